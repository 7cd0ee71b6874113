"""FAKE torch: just the tensor surface the transformers adapter and the fake transformers touch."""

from __future__ import annotations

from typing import Any

__version__ = "2.11.0+fake"


class dtype:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


bool = dtype("bool")  # noqa: A001 - the real module shadows the builtin too
long = dtype("long")
float16 = dtype("float16")
bfloat16 = dtype("bfloat16")
float32 = dtype("float32")


class Tensor:
    def __init__(self, data: list[Any], dtype: Any = None, device: str = "cpu") -> None:
        self.data = data
        self.dtype = dtype or long
        self.device = device

    @property
    def shape(self) -> tuple[int, ...]:
        shape: list[int] = []
        level: Any = self.data
        while isinstance(level, list):
            shape.append(len(level))
            level = level[0] if level else None
        return tuple(shape)

    def tolist(self) -> list[Any]:
        return [list(row) if isinstance(row, list) else row for row in self.data]

    def to(self, device: Any) -> "Tensor":
        return Tensor(self.data, self.dtype, str(device))

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def __or__(self, other: Any) -> "Tensor":
        other_data = other.data if isinstance(other, Tensor) else [other] * len(self.data)
        return Tensor([a or b for a, b in zip(self.data, other_data)], bool, self.device)

    def all(self) -> Any:
        return all(self.data)

    def __getitem__(self, index: Any) -> "Tensor":
        if isinstance(index, tuple):
            row, cols = index
            return Tensor(self.data[row][cols], self.dtype, self.device)
        return Tensor(self.data[index], self.dtype, self.device)


def tensor(data: Any, dtype: Any = None, device: str = "cpu") -> Tensor:
    return Tensor(data, dtype, device)


def full(size: tuple[int, ...], fill_value: Any, dtype: Any = None, device: Any = "cpu") -> Tensor:
    (n,) = size
    return Tensor([fill_value] * n, dtype, str(device))


seeds: list[int] = []


def manual_seed(seed: int) -> None:
    seeds.append(seed)


class no_grad:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


class _Cuda:
    class OutOfMemoryError(RuntimeError):
        pass

    available = False
    emptied = 0

    def is_available(self) -> Any:
        return self.available

    def get_device_name(self, index: int = 0) -> str:
        return "FAKE GPU"

    def empty_cache(self) -> None:
        self.emptied += 1


cuda = _Cuda()
