import os
import sys
from pathlib import Path

# published_tables.py and the sweep tests' fake runners are imported by module name
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".cache" / "numba"))
os.environ.setdefault("MPLBACKEND", "Agg")
