__version__ = "0.1.0"

def __getattr__(name):
    "The scanpy-style namespaces `deephex.pp`, `deephex.tl`, `deephex.pl`, loaded on first use (`import deephex` stays light)."
    if name in ('pp', 'tl', 'pl'):
        import importlib
        return importlib.import_module(f'deephex.{name}')
    raise AttributeError(f"module 'deephex' has no attribute {name!r}")
