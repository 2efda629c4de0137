"""vramguard.plan(): where every unit of a model would go and what that costs, before any memory is
spent, from the checkpoint's headers alone."""
import json
import os
from collections import namedtuple

from . import _vramguard
from ._logging import sync_level
from ._options import check_keywords, in_python_terms, runtime_options

Unit = namedtuple("Unit", "component name mode storage executes_on bytes")


class Plan:
    """A validated plan. `devices`, `units`, `predicted` and the Hugging Face `device_map` are read from
    the same document `vramguard plan --json` prints; `explain()` is what `vramguard plan --units` shows."""

    def __init__(self, document, text):
        self._doc = document
        self._text = text

    @property
    def strategy(self):
        return self._doc["strategy"]

    @property
    def devices(self):
        """Each device's budget: total, usable, cap, reserve, headroom, context (bytes)."""
        return self._doc["devices"]

    @property
    def units(self):
        return [Unit(u["component"], u["name"], u["mode"], u["storage"], u["executes_on"], u["bytes"])
                for u in self._doc["units"]]

    @property
    def predicted(self):
        """Peaks per device, bytes streamed per pass, ready and step seconds, as the cost model predicts."""
        return self._doc["predicted"]

    @property
    def device_map(self):
        """Where each module's weights are stored, as from_pretrained(device_map=...) takes it (one map per
        component for a pipeline)."""
        return self._doc["hugging_face"]["device_map"]

    @property
    def execution_map(self):
        """Where vramguard runs each module (a streamed module is stored on "cpu" but runs on a GPU)."""
        return self._doc["hugging_face"]["execution_map"]

    def explain(self):
        return self._text

    def as_dict(self):
        return json.loads(json.dumps(self._doc))

    def __repr__(self):
        p = self._doc["predicted"]
        return (f"<vramguard.Plan {self.strategy}: {len(self._doc['units'])} units, "
                f"{p.get('streamed_bytes_per_step', 0) / 1e9:.2f} GB streamed per pass, "
                f"step {p.get('step_seconds', 0) * 1e3:.1f} ms>")


def plan(model_path, strategy=None, config=None, max_memory=None, reserve=None, **kwargs):
    """Plans `model_path` (a folder, a .safetensors file, or org/name from the Hugging Face cache) with a
    strategy plugin, found the same way as the CLI finds them: `strategy`, else the config's, else auto. Keyword
    arguments are load's options: headroom, dtype, simulate, tokens, batch, cpu_memory, pinned_memory,
    options (strategy options), unit_rules, settings. Raises InputError, OutOfMemory (nothing
    fits: the message says what each device would need) or PluginError."""
    check_keywords("plan", kwargs, ("model_path", "strategy"))
    options = runtime_options(strategy, config=config, max_memory=max_memory, reserve=reserve, **kwargs)
    sync_level()
    try:
        document, text = _vramguard.plan(os.fspath(model_path), options)
    except _vramguard.Error as error:
        raise in_python_terms(error) from None
    _vramguard.flush_log()
    return Plan(json.loads(document), text)
