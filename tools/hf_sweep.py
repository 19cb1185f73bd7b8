"""Which Hugging Face architectures the program road records:
``python tools/hf_sweep.py [model_type ...]``.

Every model type of the installed transformers (or those named) is built
from its default config on the meta device (the causal-LM class where there
is one, else ``AutoModel``'s) and its materialize_ schedule is built: the
model's own init program recorded and checked, nothing allocated.  Prints
the counts (built and recorded / built and refused / not built from a
default config) and each refusal's first line.  Values are not compared
here (tests/test_torch_program.py does that for the architectures in
tests/hf_models.py)."""
import collections
import logging
import signal
import sys
import warnings


def main(argv):
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    from fastinit.torch import _module

    def timeout(*_):
        raise TimeoutError
    signal.signal(signal.SIGALRM, timeout)
    counts, refused = collections.Counter(), []
    for mt in argv or sorted(CONFIG_MAPPING_NAMES):
        signal.alarm(30)
        try:
            try:
                cfg = AutoConfig.for_model(mt)
                mapping = AutoModelForCausalLM._model_mapping
                cls = mapping[type(cfg)] if type(cfg) in mapping else AutoModel._model_mapping[type(cfg)]
                cls = cls[0] if isinstance(cls, (list, tuple)) else cls
                with torch.device("meta"):
                    model = cls._from_config(cfg)
            except Exception:                      # noqa: BLE001 (needs more than its default config)
                counts["not built"] += 1
                continue
            try:
                _module._InitSchedule(model, 0, "own", None, True, {}, materializing=True)
                counts["recorded"] += 1
            except TimeoutError:
                counts["timed out"] += 1
            except Exception as e:                 # noqa: BLE001 (what we report)
                counts["refused"] += 1
                refused.append(f"{mt}: {type(e).__name__}: {str(e).splitlines()[0][:240]}")
        finally:
            signal.alarm(0)
    print(dict(counts))
    print("\n".join(refused))


if __name__ == "__main__":
    main(sys.argv[1:])
