"""Countable things of a synthetic street scene: vehicles, people, poles, signs, lights, trees.

Each thing is projected from a small 3D model through the scene camera; all things are sorted
by depth and added far to near, so nearer ones are drawn on top (as in Cityscapes polygons).
Paint details (windows, wheels, lamps, clothes) are image-only overlays inside the polygon.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from hyctas.data.synthetic_scene import Point, circle, facade_quad, ground_quad, hull, pick_colour

if TYPE_CHECKING:
    from hyctas.data.synthetic_scene import Scene

# fmt: off
CAR_COLOURS = [(200, 200, 205), (30, 30, 35), (140, 140, 145), (150, 30, 30), (40, 60, 120),
               (90, 95, 100), (220, 220, 215), (60, 80, 60), (110, 80, 60), (170, 160, 140)]
CLOTHES = [(30, 30, 40), (60, 60, 70), (120, 40, 40), (40, 60, 110), (150, 150, 150),
           (200, 190, 170), (90, 70, 50), (20, 20, 20), (170, 120, 60)]
CLUTTER = [(60, 90, 60), (120, 120, 120), (90, 60, 40), (200, 120, 30)]
# fmt: on
LARGE = ("bus", "bus", "truck", "truck", "train")  # occasional large vehicles (train: a tram)


def _vehicle(sc: Scene, label: str, xc: float, zr: float, oncoming: bool) -> None:
    cam, rng = sc.cam, sc.rng
    if label == "car":
        w, length, h = rng.uniform(1.65, 1.95), rng.uniform(3.8, 4.9), rng.uniform(1.4, 1.65)
        belt = h * rng.uniform(0.55, 0.65)
        cab = [(0.42 * w, h, zr + 0.9, zr + length - 1.4)]
    elif label == "train":
        w, length, h = rng.uniform(2.4, 2.65), rng.uniform(15, 30), rng.uniform(3.3, 3.8)
        belt, cab = h * 0.35, []
    else:
        w, length, h = rng.uniform(2.3, 2.55), rng.uniform(7, 12), rng.uniform(2.8, 3.8)
        belt, cab = h * 0.4, []
    xs = (xc - w / 2, xc + w / 2)
    pts = [cam.project(x, y, z) for x in xs for y in (0, belt) for z in (zr, zr + length)]
    for half, yt, za, zb in cab:
        pts += [cam.project(xc + s * half, yt, z) for s in (-1, 1) for z in (za, zb)]
    if not cab:
        pts += [cam.project(x, h, z) for x in xs for z in (zr, zr + length)]
    body = pick_colour(rng, CAR_COLOURS, 15)
    glass = (35, 40, 50) if rng.random() < 0.7 else (80, 95, 110)
    overlays: list[tuple[Any, ...]] = []
    if cab:
        win = [
            cam.project(xc + s * 0.46 * w, yy, z)
            for s in (-1, 1)
            for yy in (belt + 0.05, h - 0.05)
            for z in (zr + 0.7, zr + length - 1.1)
        ]
        overlays.append(("poly", hull(win), glass))
    elif label != "truck" or rng.random() < 0.5:  # a band of windows, or a truck's cargo box
        band = [cam.project(x, y, z) for x in xs for y in (1.3, h - 0.4) for z in (zr, zr + length)]
        overlays.append(
            ("poly", hull(band), glass if label != "truck" else pick_colour(rng, CAR_COLOURS, 20))
        )
    lamp = (255, 250, 220) if oncoming else (200, 25, 25)
    for s in (-1, 1):
        x_out = xc + s * (w / 2 - 0.05)
        x_in = xc + s * (w / 2 - 0.35)
        overlays.append(("poly", facade_quad(cam, ("z", zr), x_out, x_in, 0.65, 0.82), lamp))
        overlays.append(("poly", facade_quad(cam, ("z", zr), x_out, x_in, 0.0, 0.25), (15, 15, 15)))
    side = xs[0] if xs[0] > 0 else (xs[1] if xs[1] < 0 else None)
    if side is not None:  # wheels of the side facing the camera, as projected 3D circles
        for zw in (zr + 0.8, zr + length - 0.9):
            ring = [
                cam.project(side, 0.33 + 0.33 * np.sin(t), zw + 0.33 * np.cos(t))
                for t in np.linspace(0, 2 * np.pi, 12, endpoint=False)
            ]
            overlays.append(("poly", ring, (20, 20, 22)))
    overlays.append(
        ("poly", facade_quad(cam, ("z", zr), xc - 0.25, xc + 0.25, 0.4, 0.52), (225, 225, 225))
    )
    sc.shadows.append((ground_quad(cam, xs[0] - 0.2, xs[1] + 0.2, zr - 0.3, zr + length), 0.45))
    sc.add(label, hull(pts), "vehicle", body, overlays=overlays)


def _person(sc: Scene, label: str, x: float, z: float, y0: float = 0.0, size: float = 0.0) -> None:
    cam, rng = sc.cam, sc.rng
    hm = size or rng.uniform(1.55, 1.9)
    cx, foot = cam.project(x, y0, z)
    hp = cam.scale(z) * hm
    s, a = rng.uniform(0, 0.09), rng.uniform(0, 0.05)
    ang = np.linspace(np.pi * 1.15, np.pi * 1.85, 6)
    head = [(0.065 * np.cos(t), 0.075 + 0.07 * np.sin(t)) for t in ang]
    right = [
        (0.035, 0.145),
        (0.13, 0.19),
        (0.15 + a, 0.52),
        (0.105 + a, 0.54),
        (0.1, 0.53),
        (0.07 + s, 1.0),
        (0.015 + s / 2, 1.0),
        (0.0, 0.6),
    ]
    left = [(-u, v) for u, v in reversed(right[:-1])]
    tmpl = [*head, *right, *left]
    top = foot - hp
    poly = [(cx + u * hp, top + v * hp) for u, v in tmpl]

    def box(v0: float, v1: float) -> list[Point]:  # a band of the body, clipped by the outline
        return [
            (cx + u * hp, top + v * hp) for u, v in ((-0.3, v0), (0.3, v0), (0.3, v1), (-0.3, v1))
        ]

    skin = tuple(np.clip(rng.normal((190, 150, 120), 35), 0, 255))
    overlays = [
        ("poly", box(0, 0.15), skin),
        ("poly", box(0, 0.04), pick_colour(rng, CLOTHES, 10)),
        ("poly", box(0.15, 0.55), pick_colour(rng, CLOTHES, 25)),
        ("poly", box(0.55, 1.0), pick_colour(rng, CLOTHES, 20)),
    ]
    sc.add(label, poly, "person", skin, overlays=overlays)


def _bicycle(sc: Scene, x: float, z: float, rider: bool, label: str = "bicycle") -> None:
    """A side-view bicycle or motorcycle (wheel radius r, half wheelbase b), maybe ridden."""
    cam, rng = sc.cam, sc.rng
    r, b, tyre = (0.34, 0.52, 0.06) if label == "bicycle" else (0.32, 0.7, 0.12)

    def ring(xw: float, rr: float) -> list[Point]:  # a wheel of radius rr centred at (xw, r)
        t = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        return [cam.project(xw + rr * np.cos(a), r + rr * np.sin(a), z) for a in t]

    pts = ring(x - b, r) + ring(x + b, r)
    pts += [cam.project(x - 0.2, 0.95, z), cam.project(x + b - 0.1, 1.05, z)]
    frame = pick_colour(rng, CAR_COLOURS, 20)
    overlays = [
        ("poly", ring(x - b, r), (25, 25, 25)),
        ("poly", ring(x + b, r), (25, 25, 25)),
        ("poly", ring(x - b, r - tyre), (95, 95, 90)),
        ("poly", ring(x + b, r - tyre), (95, 95, 90)),
        (
            "poly",
            [
                cam.project(x - b, r, z),
                cam.project(x - 0.2, 0.95, z),
                cam.project(x + b - 0.1, 1.0, z),
                cam.project(x + b, r, z),
            ],
            frame,
        ),
    ]
    if label == "motorcycle":  # engine and tank fill the frame
        pts += [cam.project(x - b - 0.2, 0.8, z)]
        overlays.append(
            (
                "poly",
                [
                    cam.project(x + u, v, z)
                    for u, v in ((-0.5, 0.3), (-0.6, 0.85), (0.4, 0.95), (0.45, 0.3))
                ],
                frame,
            )
        )
    sc.add(label, hull(pts), "plain", (95, 95, 90), overlays=overlays)
    if rider:
        _person(sc, "rider", x - 0.1, z, y0=0.45, size=rng.uniform(1.2, 1.4))


def _pole(sc: Scene, x: float, z: float, h: float, to_road: float) -> None:
    cam, rng = sc.cam, sc.rng
    w = rng.uniform(0.1, 0.22)
    grey = pick_colour(rng, [(110, 110, 110), (70, 75, 80), (150, 150, 145)], 15)
    sc.add("pole", facade_quad(cam, ("z", z), x - w / 2, x + w / 2, 0, h), "pole", grey)
    kind = rng.random()
    if kind < 0.3 and h > 5:  # street lamp arm over the road
        xe = x + to_road * rng.uniform(1, 2.5)
        sc.add(
            "pole", facade_quad(cam, ("z", z), min(x, xe), max(x, xe), h - 0.15, h), "pole", grey
        )
    elif kind < 0.75:
        ys = rng.uniform(1.9, min(h - 0.4, 3.0))
        sx, sy = cam.project(x, ys, z - 0.05)
        r = cam.scale(z) * rng.uniform(0.3, 0.45)
        shape = rng.integers(5)
        n = (16, 3, 4, 8, 4)[shape]
        rot = (0, -np.pi / 2, 0, np.pi / 8, np.pi / 4)[shape]
        t = rot + np.linspace(0, 2 * np.pi, n, endpoint=False)
        poly = [(sx + r * np.cos(a), sy + r * np.sin(a)) for a in t]
        rim, inner = [
            ((200, 30, 30), (235, 235, 235)),
            ((30, 70, 160), (235, 235, 235)),
            ((230, 190, 30), (240, 240, 240)),
            ((200, 30, 30), (200, 30, 30)),
            ((150, 150, 150), (150, 150, 150)),
        ][rng.integers(5)]
        inner_poly = [(sx + 0.7 * (u - sx), sy + 0.7 * (v - sy)) for u, v in poly]
        sc.add("traffic sign", poly, "plain", rim, overlays=[("poly", inner_poly, inner)])
    else:
        _traffic_light(sc, x, rng.uniform(2.4, min(h, 4.5)), z - 0.1)


def _traffic_light(sc: Scene, x: float, y: float, z: float) -> None:
    cam, rng = sc.cam, sc.rng
    quad = facade_quad(cam, ("z", z), x - 0.17, x + 0.17, y - 0.9, y)
    overlays = []
    if rng.random() < 0.75:  # seen from the front: three lamps, one lit
        lit = rng.integers(3)
        for i, col in enumerate(((255, 40, 30), (255, 190, 30), (40, 230, 120))):
            cx, cy = cam.project(x, y - 0.15 - 0.29 * i, z)
            colour = col if i == lit else (45, 45, 40)
            overlays.append(("poly", circle(rng, cx, cy, cam.scale(z) * 0.1, 0, 10), colour))
    body = (35, 35, 30) if rng.random() < 0.7 else (180, 150, 40)
    sc.add("traffic light", quad, "plain", body, overlays=overlays)


def _tree(sc: Scene, x: float, z: float) -> None:
    cam, rng = sc.cam, sc.rng
    sc.add("ground", ground_quad(cam, x - 0.6, x + 0.6, z - 0.6, z + 0.6), "plain", (90, 75, 60))
    hc = rng.uniform(2.5, 4.5)
    sc.add(
        "vegetation",
        facade_quad(cam, ("z", z), x - 0.13, x + 0.13, 0, hc + 0.5),
        "plain",
        pick_colour(rng, [(80, 65, 50), (60, 55, 50)], 10),
    )
    r = rng.uniform(1.4, 3.2)
    cx, cy = cam.project(x, hc + r * 0.8, z)
    sc.add(
        "vegetation",
        circle(rng, cx, cy, cam.scale(z) * r, 0.22, 24),
        "vegetation",
        pick_colour(rng, [(70, 100, 45), (50, 80, 40), (95, 115, 55)], 15),
    )
    sc.shadows.append((ground_quad(cam, x - r, x + r, z - r * 0.7, z + r * 0.7), 0.6))


def _clutter(sc: Scene, x: float, z: float) -> None:
    """Bins, bollards and boxes: void labels ("static", "dynamic"), ignored in training."""
    rng = sc.rng
    w, h = rng.uniform(0.15, 0.8), rng.uniform(0.6, 1.2)
    label = "static" if rng.random() < 0.8 else "dynamic"
    quad = facade_quad(sc.cam, ("z", z), x - w / 2, x + w / 2, 0, h)
    sc.add(label, quad, "plain", pick_colour(rng, CLUTTER, 15))


def add_things(
    sc: Scene,
    road: tuple[float, float],
    walks: tuple[float, float],
    lanes: int,
    parking: list[float],
    z_end: float,
) -> None:
    """Place vehicles, people, poles, trees and clutter; add them to `sc` far to near."""
    cam, rng = sc.cam, sc.rng
    road_l, road_r = road
    zmin, zmax = cam.z_bottom * 0.9, min(z_end - 12, 110)
    items: list[tuple[float, Callable[[], None]]] = []  # (depth, adder), sorted at the end
    lane_w = (road_r - road_l) / lanes
    for k in range(lanes):  # moving traffic, lanes left of the camera oncoming
        xc = road_l + (k + 0.5) * lane_w
        oncoming = lanes > 1 and xc < -lane_w / 2
        z = zmin * rng.uniform(1.5, 4.0)
        while z < zmax:
            if rng.random() < 0.35:
                label = "car" if rng.random() < 0.88 or z < 12 else LARGE[rng.integers(len(LARGE))]
                xj = xc + rng.normal(0, 0.2)
                items.append((z, partial(_vehicle, sc, label, xj, z, oncoming)))
            z += rng.uniform(7, 22)
    edges = [e + s * 1.2 for e, s in ((road_l, 1), (road_r, -1)) if rng.random() < 0.3]
    for xp in [*parking, *edges]:  # parked cars
        z = zmin * rng.uniform(0.8, 2.0)
        while z < zmax * 0.7:
            if rng.random() < 0.5:
                items.append((z, partial(_vehicle, sc, "car", xp, z, False)))
            z += rng.uniform(5, 9)
    walk_l, walk_r = (road_l - walks[0], road_l), (road_r, road_r + walks[1])
    for (a, b), to_road in ((walk_l, 1), (walk_r, -1)):
        for _ in range(rng.poisson(2.5)):
            xp, zp = rng.uniform(a + 0.3, b - 0.3), zmin + rng.exponential(12)
            items.append((zp, partial(_person, sc, "person", xp, zp)))
        if rng.random() < 0.25:
            xp, zp = rng.uniform(a, b), rng.uniform(zmin * 1.2, 35)
            kind = "bicycle" if rng.random() < 0.75 else "motorcycle"
            items.append((zp, partial(_bicycle, sc, xp, zp, rng.random() < 0.5, kind)))
        curb = b - 0.4 if to_road == 1 else a + 0.4
        z = rng.uniform(zmin * 0.8, 15)
        while z < zmax:  # poles at the curb: lamps, signs, traffic lights
            items.append((z, partial(_pole, sc, curb, z, rng.uniform(2.8, 8), to_road)))
            z += rng.uniform(8, 30)
        if rng.random() < 0.6:  # a row of trees
            xt, z = curb - to_road * rng.uniform(0.3, 1.0), rng.uniform(zmin, 20)
            step = rng.uniform(7, 16)
            while z < zmax:
                items.append((z + 0.01, partial(_tree, sc, xt, z)))
                z += step * rng.uniform(0.8, 1.2)
        for _ in range(rng.poisson(0.8)):
            zs = rng.uniform(zmin, 40)
            items.append((zs, partial(_clutter, sc, rng.uniform(a, b), zs)))
    if rng.random() < 0.15:  # a pedestrian, cyclist or motorcyclist crossing the road
        zc, xc = rng.uniform(zmin * 1.5, 30), rng.uniform(road_l + 1, road_r - 1)
        kind = ("bicycle", "motorcycle", "person")[rng.integers(3)]
        cross = partial(_person, sc, "person", xc, zc) if kind == "person" else None
        items.append((zc, cross or partial(_bicycle, sc, xc, zc, True, kind)))
    for _, add in sorted(items, key=lambda it: -it[0]):
        add()
