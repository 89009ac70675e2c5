"""The notebooks run top to bottom in JupyterLab (Run All), not only under `nbdev-test`.

`nbdev-test` skips the cells flagged `#| cuda` (and, without `--flags slow`, `#| slow`); Run All and papermill run every
cell. So a cell that needs a GPU must check for one itself, and every notebook that papermill parameterises must keep
its `parameters` cell where papermill finds it. (Every notebook's Run All under papermill was last checked by hand:
`cd nbs && papermill NB.ipynb /tmp/NB.ipynb` for each, all passing.)
"""
import json
from pathlib import Path

import pytest

NBS = sorted((Path(__file__).resolve().parents[1]/'nbs').glob('*.ipynb'))


def _code_cells(nb:Path):
    for c in json.loads(nb.read_text())['cells']:
        if c['cell_type'] == 'code': yield c, ''.join(c['source'])


@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_cuda_cells_check_for_a_gpu(nb):
    bad = [s.split('\n')[1][:80] for c, s in _code_cells(nb)
           if s.split('\n')[0].replace(' ', '') == '#|cuda' and 'torch.cuda.is_available()' not in s]
    assert not bad, f"{nb.name}: #| cuda cells that fail Run All on a machine without a GPU (guard them with torch.cuda.is_available()): {bad}"


@pytest.mark.parametrize('nb', [p for p in NBS if p.name.startswith('3')], ids=lambda p: p.name)
def test_figure_notebooks_have_a_parameters_cell(nb):
    tagged = [s for c, s in _code_cells(nb) if 'parameters' in c.get('metadata', {}).get('tags', [])]
    assert len(tagged) == 1, f"{nb.name}: papermill needs exactly one cell tagged 'parameters' (make figures passes -p ...)"
