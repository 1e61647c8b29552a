"""The model of a synthetic street scene: camera, objects with paint recipes, 3D-to-pixel shapes.

A pinhole camera looks down a straight street. Everything is placed in metres (x to the right,
y up from the ground, z forward) and projected, so sizes and the vanishing point stay consistent.
`synthetic_street` lays out the street and `synthetic_things` the objects on it.

    cam = Camera(width=512, height=256, focal=500.0, cam_h=1.5, xv=256.0, yh=110.0)
    road = ground_quad(cam, -4.0, 4.0, 5.0, 100.0)   # pixel polygon of a road 8 m wide
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

Point = tuple[float, float]


@dataclass(frozen=True)
class Camera:
    """Pinhole camera `cam_h` metres above flat ground, horizon row `yh`, vanishing column `xv`."""

    width: int
    height: int
    focal: float
    cam_h: float
    xv: float
    yh: float

    def project(self, x: float, y: float, z: float) -> Point:
        """Pixel (column, row) of the world point (x, height y, depth z > 0)."""
        return self.xv + self.focal * x / z, self.yh + self.focal * (self.cam_h - y) / z

    def scale(self, z: float) -> float:
        """Pixels per metre at depth z."""
        return self.focal / z

    @property
    def z_bottom(self) -> float:
        """Depth of the ground seen at the bottom image row."""
        return self.focal * self.cam_h / (self.height - self.yh)


@dataclass
class SceneObject:
    """One polygon: a Cityscapes label name, float pixel vertices and its paint recipe."""

    label: str
    polygon: list[Point]
    paint: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scene:
    """Objects (back to front) and image-only shadow polygons, filled while building."""

    cam: Camera
    rng: np.random.Generator
    objects: list[SceneObject] = field(default_factory=list)
    shadows: list[tuple[list[Point], float]] = field(default_factory=list)

    def add(self, label: str, polygon: list[Point], tex: str, rgb: Any, **paint: Any) -> None:
        """Append an object painted with texture `tex` around colour `rgb`."""
        paint.update(tex=tex, rgb=tuple(float(c) for c in rgb))
        self.objects.append(SceneObject(label, polygon, paint))


# Colour palettes (RGB): deliberately overlapping between classes, so colour alone is not enough.
# fmt: off
FACADES = [(150, 140, 130), (190, 180, 160), (120, 110, 105), (170, 120, 100), (200, 195, 185),
           (110, 115, 125), (160, 150, 120), (135, 95, 80), (180, 170, 170), (95, 95, 95)]
SIDEWALKS = [(150, 140, 140), (170, 150, 150), (130, 125, 120), (160, 135, 125), (120, 120, 125)]
# fmt: on


def jitter(rng: np.random.Generator, rgb: tuple[int, ...], amount: float) -> np.ndarray:
    """`rgb` plus Gaussian noise of std `amount` per channel, clipped to 0..255."""
    return np.clip(np.asarray(rgb, float) + rng.normal(0, amount, 3), 0, 255)


def sample_camera(rng: np.random.Generator, height: int, width: int) -> Camera:
    """A camera with random focal length, height, horizon row and yaw (vanishing column)."""
    return Camera(
        width=width,
        height=height,
        focal=width * rng.uniform(0.85, 1.2),
        cam_h=rng.uniform(1.3, 1.7),
        xv=width * rng.uniform(0.36, 0.64),
        yh=height * rng.uniform(0.36, 0.5),
    )


def ground_quad(cam: Camera, x0: float, x1: float, z0: float, z1: float) -> list[Point]:
    """Ground rectangle x0..x1 by z0..z1 (metres) in pixels."""
    p = cam.project
    return [p(x0, 0, z0), p(x0, 0, z1), p(x1, 0, z1), p(x1, 0, z0)]


def facade_quad(
    cam: Camera, plane: tuple[str, float], a: float, b: float, y0: float, y1: float
) -> list[Point]:
    """Vertical rectangle: on plane ("x", X) a..b are depths; on ("z", Z) they are x positions."""
    axis, v = plane
    pt = (lambda s, y: cam.project(v, y, s)) if axis == "x" else (lambda s, y: cam.project(s, y, v))
    return [pt(a, y0), pt(a, y1), pt(b, y1), pt(b, y0)]


def circle(
    rng: np.random.Generator, cx: float, cy: float, r: float, rough: float, n: int = 20
) -> list[Point]:
    """A blob of radius r pixels; `rough` is the relative radial noise (0 gives a circle)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rr = r * (1 + rough * rng.uniform(-1, 1, n)) if rough else np.full(n, r)
    return [(cx + a * np.cos(b), cy + a * np.sin(b)) for a, b in zip(rr, t, strict=True)]


def hull(points: list[Point]) -> list[Point]:
    """Convex hull of pixel points (outline of a projected 3D box)."""
    hull = cv2.convexHull(np.asarray(points, np.float32))
    return [(float(x), float(y)) for x, y in hull[:, 0]]


def pick_colour(rng: np.random.Generator, palette: list[tuple[int, int, int]], s: float) -> tuple:
    """A random palette colour with Gaussian noise of std `s`."""
    base = np.asarray(palette[rng.integers(len(palette))], float)
    return tuple(np.clip(base + rng.normal(0, s, 3), 0, 255))
