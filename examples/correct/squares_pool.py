"""Program 2 of the classic multiprocessing guide: ``Pool(4).map(square, range(10))``."""

from __future__ import annotations

from multiprocessing import Pool


def square(x: int) -> int:
    return x * x


def main() -> list[int]:
    with Pool(4) as pool:
        return pool.map(square, range(10))


if __name__ == "__main__":
    print(main())
