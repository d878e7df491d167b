"""What a task runs: the built-in chain or the user's function, behind one call.

A user's function takes the task's input (bytes) and returns bytes or str (str goes
out as UTF-8); if it has a parameter named `iterations`, it is given the task's
iterations too. Whatever it raises fails that task, with the exception's message as
the reason.
"""

import hashlib
import importlib
import inspect
from typing import Callable

# What a result may carry (the C worker's limit for a command's output): with the
# input it came with, it stays within the sink's 129 MiB frame limit.
MAX_OUTPUT = 64 << 20


def sha512_chain(data: bytes, iterations: int) -> bytes:
    """The seed's hashing: h = input; repeat N: h = sha512(h) as lowercase hex."""
    sha512 = hashlib.sha512
    h = data
    for _ in range(iterations):
        h = sha512(h).hexdigest().encode()
    return h


class LoadError(Exception):
    pass


def load(spec: str) -> Callable[[bytes, int], object]:
    """The callable for --function SPEC: "sha512-chain" or "module:name" (name may be
    dotted: "module:Class.method"). Raises LoadError saying what is wrong."""
    if spec == "sha512-chain":
        return sha512_chain
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise LoadError(f"--function {spec}: expected sha512-chain or MODULE:FUNCTION")
    try:
        target = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's to see
        raise LoadError(f"--function {spec}: can't import {module_name}: "
                        f"{type(e).__name__}: {e}") from e
    try:
        for part in attribute.split("."):
            target = getattr(target, part)
    except AttributeError as e:
        raise LoadError(f"--function {spec}: {module_name} has no {attribute}") from e
    if not callable(target):
        raise LoadError(f"--function {spec}: {attribute} is not callable")
    try:
        wants_iterations = "iterations" in inspect.signature(target).parameters
    except (TypeError, ValueError):
        wants_iterations = False
    if wants_iterations:
        return lambda data, iterations: target(data, iterations=iterations)
    return lambda data, iterations: target(data)


def as_output(value: object) -> bytes:
    """A function's return value as result bytes; TypeError if it is neither bytes
    nor str."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"the function returned {type(value).__name__}, not bytes or str")
