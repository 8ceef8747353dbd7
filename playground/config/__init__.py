"""One config tree: typed sections, YAML loading, `--set` overrides, derived values, docs.

The package is split by job:

  fields.py   the types of the tree (Field, Section, FreeForm, Partial), type and range checks;
  schema.py   the schema of a run, assembled from the sections its task and algorithm
              declare (registries) plus the run loop's `run`; lookups, defaults, merging;
  load.py     YAML and JSON files, `--set` and the shortcut flags, resolution, saved configs,
              resume; layout.py maps JSON files in the runtime/env/policy/algorithm layout;
  derive.py   `derive(cfg)`: derived values and the checks that span several keys;
  docs.py     docs/config.md and `python -m playground.config --print/--write-docs`.

Precedence (lowest first; a later layer overrides an earlier one key by key):

  1. the defaults of the run's sections (listed in docs/config.md);
  2. the task's defaults for the run's algorithm (`TaskEntry.algorithm_defaults`);
  3. one YAML or JSON file: `--config PATH`, or, when no `--config` is given, the
     registry YAML (configs/<task>.yaml) of the task named by the final value of
     `env.task` after the command-line overrides; the sections of other registered
     algorithms in it (and in its quick_verify) are skipped;
  4. that file's `quick_verify` section, only in `--verify` mode;
  5. the command line: `--set KEY=VALUE` and the shortcut flags (each is exactly
     one `--set`), applied in the order given, so the last one wins.

`env.task` and `algorithm.name` are read first, through the same layers; their
sections make the schema of the run. Every value is type-checked against it, so a typo or a wrong type is a
`ConfigError` with a one-line message that names the key (and the closest valid
key), raised before anything imports jax or compiles. The resolved config is
locked and never mutated after `resolve_config`.
"""

from playground.config.derive import (
    Derived,
    Schedule,
    check_whole_multiple,
    derive,
    validate_reward_weights,
)
from playground.config.docs import main, schema_markdown
from playground.config.fields import (
    Check,
    ConfigError,
    Field,
    FreeForm,
    Partial,
    Section,
    at_least,
    greater_than,
    in_range,
    lower_at_least,
    print_error,
    widths_at_least,
)
from playground.config.layout import Computed
from playground.config.load import (
    REMOVED_KEYS,
    SHORTCUTS,
    Shortcut,
    apply_overrides,
    build_arg_parser,
    from_saved,
    load_config_file,
    parse_set,
    parse_sets,
    resolve,
    resolve_config,
    resume_changes,
    save_config,
)
from playground.config.schema import (
    assemble,
    default_config,
    resumable_keys,
    schema_of,
    to_dict,
)

__all__ = [
    "REMOVED_KEYS", "SHORTCUTS", "Check", "Computed", "ConfigError", "Derived", "Field", "FreeForm",
    "Partial", "Schedule", "Section", "Shortcut", "apply_overrides", "assemble",
    "at_least", "build_arg_parser", "check_whole_multiple", "default_config", "derive",
    "from_saved", "greater_than", "in_range", "load_config_file", "lower_at_least", "main",
    "parse_set", "parse_sets", "print_error", "resolve", "resolve_config", "resumable_keys",
    "resume_changes", "save_config", "schema_markdown", "schema_of", "to_dict",
    "validate_reward_weights", "widths_at_least",
]
