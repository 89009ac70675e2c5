"""One JSON per measured cell, so that the benchmark scripts in this folder resume where they stopped."""
import json, shlex
from pathlib import Path

from deephex.core import resource_meter
from deephex.runtime import write_json


def cached(folder:Path, key:str, compute)->dict:
    "`compute()`'s result dict (with its wall seconds and peak RSS), read from folder/<key>.json when an earlier run saved it."
    f = Path(folder)/(''.join(ch if ch.isalnum() or ch in '-_.' else '_' for ch in key) + '.json')
    if f.is_file(): return json.loads(f.read_text())
    with resource_meter() as res: r = compute()
    r.update(seconds=round(res['seconds'], 1), peak_rss_gb=round(res['peak_rss_gb'], 2))
    write_json(f, r); return r


def provenance(script:str, argv:list, settings:dict)->dict:
    "What made a result: the command, commit, machine, settings and start time."
    import time
    from deephex.benchmark import git_commit, machine_info
    return dict(command=f"python benchmarks/{script} " + shlex.join(argv), git=git_commit(), machine=machine_info(), settings=settings,
                started=time.strftime('%Y-%m-%dT%H:%M:%S'), t0=time.time())


def write_report(name:str, # file stem in benchmarks/ (e.g. 'transfer')
                 tag:str, # appended as '-tag' when not empty
                 prov:dict, # from `provenance`
                 results:dict, # every measured cell
                 title:str, # the markdown title
                 body:str, # the markdown tables
                )->str:
    "Write benchmarks/<name>[-tag].json (results + provenance) and .md (title, command, commit, time, settings, tables)."
    import time
    seconds = time.time() - prov['t0']
    stem = Path('benchmarks')/(name + (f"-{tag}" if tag else ''))
    meta = {k: v for k, v in prov.items() if k != 't0'}
    write_json(stem.with_suffix('.json'), dict(meta, seconds=seconds, results=results))
    md = (f"# {title}\n\nCommand: `{prov['command']}`  \nCommit: {prov['git'].get('commit')}{' (dirty)' if prov['git'].get('dirty') else ''}; "
          f"{prov['started']}; {seconds:.0f} s  \nTraining settings: {json.dumps(prov['settings'])}\n\n" + body)
    stem.with_suffix('.md').write_text(md)
    return md
