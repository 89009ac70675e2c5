"Shared pytest fixtures: where the real data lives, and skipping cleanly without it."
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent/'shared'/'data'

@pytest.fixture(scope='session')
def shared_data() -> Path:
    "The read-only real-data folder `../shared/data`; skips the test when it is absent."
    if not SHARED_DATA.is_dir(): pytest.skip(f"real data not found at {SHARED_DATA} (only CI and developer machines have it)")
    return SHARED_DATA
