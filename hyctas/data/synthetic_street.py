"""Lay out a random synthetic street: sky, skyline, road, sidewalks, facades, then things.

Objects are listed back to front, the order in which cityscapesscripts draws polygons, so later
ones cover earlier ones exactly as in the label map.

    scene = build_scene(np.random.default_rng(0), height=256, width=512)
    [(o.label, len(o.polygon)) for o in scene.objects]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hyctas.data.synthetic_scene import (
    FACADES,
    SIDEWALKS,
    Point,
    Scene,
    circle,
    facade_quad,
    ground_quad,
    jitter,
    sample_camera,
)
from hyctas.data.synthetic_things import add_things


def _sky_and_far(sc: Scene, z_end: float, left: float, right: float) -> None:
    cam, rng = sc.cam, sc.rng
    top = jitter(rng, (70, 120, 190) if rng.random() < 0.65 else (175, 180, 190), 20)
    low = jitter(rng, (180, 200, 220) if rng.random() < 0.7 else (200, 200, 205), 15)
    sc.add(
        "sky",
        [(0, 0), (cam.width, 0), (cam.width, cam.yh + 1), (0, cam.yh + 1)],
        "sky",
        top,
        rgb2=tuple(low),
        clouds=rng.uniform(0, 0.8),
    )
    base = "terrain" if rng.random() < 0.75 else "ground"
    sc.add(
        base,
        [(0, cam.yh), (cam.width, cam.yh), (cam.width, cam.height), (0, cam.height)],
        "terrain" if base == "terrain" else "plain",
        jitter(rng, (110, 120, 80), 20),
        rgb2=tuple(jitter(rng, (120, 105, 80), 15)),
    )
    # Skyline at the end of the street: frontal facades and tree clumps.
    x = left - rng.uniform(10, 40)
    while x < right + 40:
        w = rng.uniform(6, 25)
        if rng.random() < 0.75:
            h = rng.uniform(6, 35)
            sc.add(
                "building",
                facade_quad(cam, ("z", z_end), x, x + w, 0, h),
                "building",
                jitter(rng, FACADES[rng.integers(len(FACADES))], 15),
                **_windows(rng, ("z", z_end)),
            )
        else:
            cx, cy = cam.project(x + w / 2, rng.uniform(3, 8), z_end)
            sc.add(
                "vegetation",
                circle(rng, cx, cy, cam.scale(z_end) * w / 2, 0.25),
                "vegetation",
                jitter(rng, (70, 100, 50), 15),
            )
        x += w + (rng.uniform(2, 10) if rng.random() < 0.3 else 0)


def _windows(rng: np.random.Generator, plane: tuple[str, float]) -> dict[str, Any]:
    glass = (60, 70, 85) if rng.random() < 0.6 else (150, 165, 185)
    return dict(
        plane=plane,
        win=rng.random() > 0.12,
        win_sx=rng.uniform(2.2, 4.0),
        win_fh=rng.uniform(2.8, 3.6),
        win_w=rng.uniform(0.3, 0.65),
        win_h=rng.uniform(0.4, 0.65),
        win_rgb=tuple(jitter(rng, glass, 15)),
        shop=rng.random() < 0.5,
        shop_rgb=tuple(jitter(rng, (60, 55, 55), 20)),
    )


def _lane_marks(
    sc: Scene, xs_dashed: list[float], xs_solid: list[float], z0: float, z1: float
) -> list[list[Point]]:
    rng, marks = sc.rng, []
    w = rng.uniform(0.1, 0.18)
    dash, gap = rng.uniform(2, 4), rng.uniform(4, 9)
    for x in xs_dashed:
        z = z0 + rng.uniform(0, gap)
        while z < z1:
            marks.append(ground_quad(sc.cam, x - w / 2, x + w / 2, z, z + dash))
            z += dash + gap
    for x in xs_solid:
        marks.append(ground_quad(sc.cam, x - w / 2, x + w / 2, z0, z1))
    if rng.random() < 0.25:  # a zebra crossing
        zc, xl, xr = rng.uniform(8, 25), min(xs_solid), max(xs_solid)
        xx = xl + 0.3
        while xx < xr - 0.5:
            marks.append(ground_quad(sc.cam, xx, xx + 0.5, zc, zc + 3))
            xx += 1.0
    return marks


def _side(sc: Scene, sign: int, line: float, z0: float, z_end: float, sun: float) -> None:
    """Facades (or a park), hedges, walls and fences along one side; sign -1 left, +1 right.

    Facades cast ground shadows `sun` times their height long towards the street.
    """
    cam, rng = sc.cam, sc.rng
    park = rng.random() < 0.15
    segments = []
    z = z0
    while z < z_end:
        length = rng.uniform(8, 35)
        if rng.random() < 0.18 or park:
            segments.append(("gap", z, min(z + rng.uniform(3, 14), z_end)))
        else:
            segments.append(("building", z, min(z + length, z_end)))
        z = segments[-1][2]
    for kind, za, zb in reversed(segments):  # far to near: nearer facades cover farther ones
        if kind == "building":
            x = line + sign * rng.uniform(0, 2.5)
            plane, h = ("x", x), rng.uniform(6, 28)
            if sun > 0:
                sc.shadows.append((ground_quad(cam, x, x - sign * sun * h, za, zb), 0.55))
            sc.add(
                "building",
                facade_quad(cam, plane, za, zb, 0, h),
                "building",
                jitter(rng, FACADES[rng.integers(len(FACADES))], 18),
                **_windows(rng, plane),
            )
        elif rng.random() < 0.6:
            x = line + sign * rng.uniform(1, 6)
            tops = np.clip(rng.uniform(4, 8) + np.cumsum(rng.normal(0, 0.7, 8)), 2.5, 11)
            top = [
                cam.project(x, y, zz) for y, zz in zip(tops, np.linspace(za, zb, 8), strict=True)
            ]
            poly = [cam.project(x, 0, za), *top, cam.project(x, 0, zb)]
            sc.add("vegetation", poly, "vegetation", jitter(rng, (70, 100, 50), 18))
    # Low structures in front of the facade line: hedge, wall or fence runs.
    z = z0
    while z < z_end * 0.6:
        za, zb = z + rng.uniform(0, 20), z + rng.uniform(5, 30)
        z = zb
        roll = rng.random()
        plane = ("x", line - sign * 0.3)
        if roll < 0.2:
            sc.add(
                "wall",
                facade_quad(cam, plane, za, zb, 0, rng.uniform(0.6, 2.5)),
                "wall",
                jitter(rng, (150, 145, 135), 20),
                plane=plane,
            )
        elif roll < 0.4:
            sc.add(
                "fence",
                facade_quad(cam, plane, za, zb, 0, rng.uniform(1.0, 2.0)),
                "fence",
                jitter(rng, (110, 110, 105), 25),
                plane=plane,
                bar=rng.uniform(0.08, 0.2),
                gap_rgb=tuple(jitter(rng, (80, 95, 70), 15)),
            )
        elif roll < 0.55:
            top = [
                cam.project(line - sign * 0.5, rng.uniform(0.8, 1.6), zz)
                for zz in np.linspace(za, zb, 10)
            ]
            poly = [
                cam.project(line - sign * 0.5, 0, za),
                *top,
                cam.project(line - sign * 0.5, 0, zb),
            ]
            sc.add("vegetation", poly, "vegetation", jitter(rng, (60, 95, 45), 15))


def build_scene(rng: np.random.Generator, height: int, width: int) -> Scene:
    """Lay out one random street scene of `height` x `width` pixels."""
    cam = sample_camera(rng, height, width)
    sc = Scene(cam, rng)
    rw = rng.uniform(3.2, 7.5)  # road half width
    xr = rng.uniform(-0.5, 0.5) * (rw - 1.5)  # road centre relative to the camera
    road_l, road_r = xr - rw, xr + rw
    walk_l, walk_r = rng.uniform(2.0, 5.5, 2)
    strip_l, strip_r = (rng.uniform(1, 4) if rng.random() < 0.35 else 0.0 for _ in range(2))
    line_l, line_r = road_l - walk_l - strip_l, road_r + walk_r + strip_r
    z0, z_end = cam.z_bottom * 0.7, rng.uniform(70, 250)

    _sky_and_far(sc, z_end, line_l, line_r)
    asphalt = jitter(rng, (rng.uniform(70, 125),) * 3, 4)
    lanes = max(1, int(round(2 * rw / 3.5)))
    xs_dashed = [road_l + 2 * rw * k / lanes for k in range(1, lanes)]
    marks = _lane_marks(sc, xs_dashed, [road_l + 0.3, road_r - 0.3], z0, z_end)
    sc.add(
        "road",
        ground_quad(cam, road_l, road_r, z0, z_end),
        "road",
        asphalt,
        overlays=[("poly", m, (215, 215, 205)) for m in marks],
    )
    parking = []
    for sign, edge in ((-1, road_l), (1, road_r)):
        if rng.random() < 0.25:
            x0, x1 = sorted((edge, edge - sign * 2.3))
            rgb, tile = jitter(rng, (110, 105, 105), 15), rng.uniform(0.4, 2.5)
            sc.add("parking", ground_quad(cam, x0, x1, z0, z_end), "sidewalk", rgb, tile=tile)
            parking.append((x0 + x1) / 2)
    walk_rgb = SIDEWALKS[rng.integers(len(SIDEWALKS))]
    for label, x0, x1 in (
        ("sidewalk", road_l - walk_l, road_l),
        ("sidewalk", road_r, road_r + walk_r),
        ("terrain", line_l, road_l - walk_l),
        ("terrain", road_r + walk_r, line_r),
    ):
        quad = ground_quad(cam, x0, x1, z0, z_end)
        if label == "sidewalk":
            sc.add(label, quad, label, jitter(rng, walk_rgb, 12), tile=rng.uniform(0.3, 1.2))
        elif x1 - x0 > 0.1:
            sc.add(label, quad, label, jitter(rng, (105, 125, 70), 20), rgb2=(125, 110, 80))
    sun = rng.uniform(0.3, 1.2) if rng.random() < 0.6 else 0.0
    sun_left = rng.random() < 0.5
    _side(sc, -1, line_l, z0, z_end, sun if sun_left else 0.0)
    _side(sc, 1, line_r, z0, z_end, 0.0 if sun_left else sun)
    add_things(
        sc, road=(road_l, road_r), walks=(walk_l, walk_r), lanes=lanes, parking=parking, z_end=z_end
    )
    _ignored_regions(sc)
    return sc


def _ignored_regions(sc: Scene) -> None:
    """Ego-vehicle bonnet and out-of-roi border in some frames: ignore (255) in trainIds."""
    cam, rng = sc.cam, sc.rng
    w, h = cam.width, cam.height
    if rng.random() < 0.45:
        depth = h * rng.uniform(0.05, 0.14)
        xs = np.linspace(0, w, 17)
        edge = [(x, h - depth * (1 - 0.6 * ((x - w / 2) / (w / 2)) ** 2)) for x in xs]
        sc.add(
            "ego vehicle",
            [(0, h), *edge, (w, h)],
            "vehicle",
            jitter(rng, (40, 40, 45), 20)
            if rng.random() < 0.7
            else jitter(rng, (180, 180, 185), 20),
        )
    if rng.random() < 0.3:
        t = max(1.0, round(w / 256))
        for poly in (
            [(0, 0), (w, 0), (w, t), (0, t)],
            [(0, h - t), (w, h - t), (w, h), (0, h)],
            [(0, 0), (t, 0), (t, h), (0, h)],
            [(w - t, 0), (w, 0), (w, h), (w - t, h)],
        ):
            sc.add("out of roi", poly, "plain", (10, 10, 10))
