"""One config tree: typed sections, YAML loading, `--set` overrides, derived values, docs.

The package is split by job:

  fields.py   the types of the tree (Field, Section, FreeForm, Partial) and value checks;
  schema.py   the schema of a run, its lookups, defaults and merging;
  load.py     YAML files, `--set` and the shortcut flags, resolution, saved configs, resume;
  derive.py   `derive(cfg)`: derived values and the checks that span several keys;
  docs.py     docs/config.md and `python -m playground.config --print/--write-docs`.

Precedence (lowest first; a later layer overrides an earlier one key by key):

  1. schema defaults (listed in docs/config.md);
  2. one YAML file: `--config PATH`, or, when no `--config` is given, the
     registry YAML (configs/<task>.yaml) of the task named by the final value of
     `env.task` after the command-line overrides;
  3. that file's `quick_verify` section, only in `--verify` mode;
  4. the command line: `--set KEY=VALUE` and the shortcut flags (each is exactly
     one `--set`), applied in the order given, so the last one wins.

Every value is type-checked against the schema, so a typo or a wrong type is a
`ConfigError` with a one-line message that names the key (and the closest valid
key), raised before anything imports jax or compiles. The resolved config is
locked and never mutated after `resolve_config`.
"""

from playground.config.derive import Derived, derive, validate_reward_weights
from playground.config.docs import main, schema_markdown
from playground.config.fields import ConfigError, Field, FreeForm, Partial, Section, print_error
from playground.config.load import (
    REMOVED_KEYS,
    RESUMABLE_KEYS,
    SHORTCUTS,
    Shortcut,
    apply_overrides,
    build_arg_parser,
    from_saved,
    load_yaml,
    resolve,
    resolve_config,
    resume_changes,
    save_config,
)
from playground.config.schema import SCHEMA, default_config, to_dict

__all__ = [
    "REMOVED_KEYS", "RESUMABLE_KEYS", "SCHEMA", "SHORTCUTS", "ConfigError", "Derived", "Field",
    "FreeForm", "Partial", "Section", "Shortcut", "apply_overrides", "build_arg_parser",
    "default_config", "derive", "from_saved", "load_yaml", "main", "print_error", "resolve",
    "resolve_config", "resume_changes", "save_config", "schema_markdown", "to_dict",
    "validate_reward_weights",
]
