#!/usr/bin/env python3
"""Renders the golden prompts the Go tests compare against, byte for byte.

Two adaptations the Go renderer makes after probing a template are
mirrored here through flags in templates.json: string_arguments (tool-call
arguments passed as JSON text, for templates that concatenate them) and
null_content_as_empty (a null content passed as "", for templates that
fail on none).

The environment copies what Hugging Face transformers sets up in
apply_chat_template (transformers/utils/chat_template_utils.py):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the
loopcontrols extension, tojson replaced by json.dumps(ensure_ascii=False, ...),
raise_exception and strftime_now as globals, and the render call passing
messages, tools (None when absent), documents=None, add_generation_prompt
and the special tokens plus any extra keyword arguments.

strftime_now reads a fixed instant (FIXED_NOW) so that goldens are
reproducible; the Go tests pass the same instant.

Usage: python3 reference.py   (run from this directory; needs python3-jinja2)
Writes golden/<template>.<case>.txt, or .err holding the message of the
template's raise_exception when it refuses the conversation, or .pyerr when
rendering fails otherwise (the Go renderer must fail too).
"""
import json
import os
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

FIXED_NOW = datetime(2026, 3, 14, 15, 9, 26)


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                      separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return FIXED_NOW.strftime(fmt)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                       extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def stringify_arguments(messages):
    """For templates that concatenate arguments as text (DeepSeek), pass
    them as the JSON text json.dumps gives, as the Go side does."""
    out = []
    for m in messages:
        m = dict(m)
        if m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                c = dict(c)
                fn = dict(c["function"])
                if not isinstance(fn["arguments"], str):
                    fn["arguments"] = json.dumps(fn["arguments"], ensure_ascii=False)
                c["function"] = fn
                calls.append(c)
            m["tool_calls"] = calls
        out.append(m)
    return out


def empty_null_content(messages):
    """For templates that fail on a null content (Qwen 3 concatenates it),
    pass "" instead, as the Go side does after probing the template."""
    return [dict(m, content="") if m.get("content", "") is None else m for m in messages]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "templates.json"), encoding="utf-8") as f:
        templates = json.load(f)
    with open(os.path.join(here, "cases.json"), encoding="utf-8") as f:
        cases = json.load(f)
    env = environment()
    outdir = os.path.join(here, "golden")
    for name in os.listdir(outdir):
        os.remove(os.path.join(outdir, name))
    for t in templates:
        with open(os.path.join(here, t["file"]), encoding="utf-8") as f:
            compiled = env.from_string(f.read())
        for case in cases:
            if "cases" in t and case["name"] not in t["cases"]:
                continue  # a template made only for some conversations
            messages = case["messages"]
            if t.get("string_arguments"):
                messages = stringify_arguments(messages)
            if t.get("null_content_as_empty"):
                messages = empty_null_content(messages)
            kwargs = dict(case.get("options", {}))
            kwargs.update(bos_token=t["bos_token"], eos_token=t["eos_token"])
            base = os.path.join(outdir, t["name"] + "." + case["name"])
            try:
                text = compiled.render(messages=messages, tools=case.get("tools"),
                                       documents=None, **kwargs)
            except TemplateError as e:  # the template refused the conversation
                with open(base + ".err", "w", encoding="utf-8", newline="") as f:
                    f.write(str(e))
                continue
            except Exception as e:  # the template failed (e.g. endless recursion)
                with open(base + ".pyerr", "w", encoding="utf-8", newline="") as f:
                    f.write(type(e).__name__ + ": " + str(e))
                continue
            with open(base + ".txt", "w", encoding="utf-8", newline="") as f:
                f.write(text)


if __name__ == "__main__":
    main()
