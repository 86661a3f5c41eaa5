"""A small vectorised sphere renderer: depth (z-buffer), IR and RGB images of the body.

The body is a set of spheres along the NTU-25 bones (plus torso, head and held-object
spheres). Each pixel takes the nearest sphere surface along its ray (orthographic-in-pixel
approximation of a sphere's disc, exact enough at Kinect distances), which gives

* depth (metres; masked: 0 where no body/object is hit),
* a material index per pixel (0 = background), and
* a Lambert-like shading term (the sphere normal's z component),

from which IR (material reflectance x shading, background visible) and RGB (material colour
x shading over a per-camera background) are made. Shapes: spheres ``(T, S, 3)`` in camera
metres; images ``(T, H, W)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layouts import NTU25
from ..pointcloud import CameraIntrinsics
from .actions import HeldObject
from .body import Subject

# material ids
BACKGROUND, SKIN, SHIRT, PANTS, OBJECT = 0, 1, 2, 3, 4
IR_REFLECTANCE = {BACKGROUND: 0.22, SKIN: 0.6, SHIRT: 0.45, PANTS: 0.35}

_SKIN_JOINTS = {3, 6, 7, 10, 11, 21, 22, 23, 24}
_LEG_JOINTS = {12, 13, 14, 15, 16, 17, 18, 19}


@dataclass
class Spheres:
    """Sphere centres (T, S, 3) with radii (S,) and material ids (S,)."""

    centres: np.ndarray
    radii: np.ndarray
    materials: np.ndarray


def body_spheres(joints: np.ndarray, subject: Subject, obj: HeldObject | None, motion: str,
                 forward: np.ndarray) -> Spheres:
    """Spheres of a body (T, 25, 3) and its held object, all in camera space.

    ``forward`` (3,) is the subject's facing direction in camera space (object thickness
    extends along it).
    """
    s = subject.scale
    cents, radii, mats = [], [], []

    def add(c: np.ndarray, r: float, m: int) -> None:
        cents.append(c)
        radii.append(r)
        mats.append(m)

    for child, parent in NTU25.bones:
        r = 0.045 if child not in _LEG_JOINTS else 0.065
        if child in (21, 22, 23, 24):
            r = 0.025
        m = SKIN if child in _SKIN_JOINTS and child not in (3,) else (PANTS if child in _LEG_JOINTS else SHIRT)
        if child in (6, 10, 7, 11):   # forearm end / hands are skin
            m = SKIN
        r = r * s * subject.girth ** 0.5
        # enough spheres that neighbours overlap: a bone reads as a solid limb, not beads
        length = float(np.linalg.norm(joints[0, child] - joints[0, parent]))
        for a in np.linspace(0.0, 1.0, max(2, int(np.ceil(length / r)) + 1)):
            add(joints[:, parent] * (1 - a) + joints[:, child] * a, r, m)
    add(joints[:, 3] + [0, 0.02 * s, 0], 0.10 * s, SKIN)
    # torso: a 3 x 4 grid of spheres between shoulders and hips
    for a in np.linspace(0.0, 1.0, 4):
        for b in np.linspace(0.0, 1.0, 3):
            top = joints[:, 4] * b + joints[:, 8] * (1 - b)
            bot = joints[:, 12] * b + joints[:, 16] * (1 - b)
            add(top * (1 - a) + bot * a, 0.085 * s * subject.girth, SHIRT)
    if obj is not None:
        if motion == "to_mouth":   # a hand-held box in the right hand
            centre, width, height = joints[:, 11] + forward * 0.04, 0.12, 0.16
        else:                      # a box held between both hands
            centre, width, height = (joints[:, 7] + joints[:, 11]) / 2 + forward * 0.04, 0.30, 0.22
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        r = 0.03
        depth_steps = max(1, int(round(obj.thickness / (2 * r))))
        for dx in np.linspace(-width / 2, width / 2, max(2, int(width / (1.6 * r)))):
            for dy in np.linspace(-height / 2, height / 2, max(2, int(height / (1.6 * r)))):
                for k in range(depth_steps):
                    add(centre + right * dx + np.array([0, dy, 0]) + forward * (2 * r * k), r, OBJECT)
    return Spheres(np.stack(cents, axis=1), np.asarray(radii, dtype=np.float64), np.asarray(mats, dtype=np.int64))


def rasterize(spheres: Spheres, intr: CameraIntrinsics, size: tuple[int, int],
              chunk: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth (T, H, W) metres (0 = miss), material ids (T, H, W) and shading (T, H, W) in [0, 1]."""
    h, w = size
    c = spheres.centres.astype(np.float32)
    t_total = c.shape[0]
    z = np.maximum(c[..., 2], 0.1)
    uc = intr.cx + intr.fx * c[..., 0] / z
    vc = intr.cy - intr.fy * c[..., 1] / z
    rp = (intr.fx * spheres.radii[None].astype(np.float32)) / z           # radius in pixels
    # only the clip's bounding box of the body can be hit: rasterise that window
    u0 = int(np.clip(np.floor((uc - rp).min()), 0, w))
    u1 = int(np.clip(np.ceil((uc + rp).max()) + 1, 0, w))
    v0 = int(np.clip(np.floor((vc - rp).min()), 0, h))
    v1 = int(np.clip(np.ceil((vc + rp).max()) + 1, 0, h))
    depth = np.zeros((t_total, h, w), np.float32)
    mat = np.zeros((t_total, h, w), np.int64)
    shade = np.zeros((t_total, h, w), np.float32)
    if u1 <= u0 or v1 <= v0:
        return depth, mat, shade
    vv, uu = np.mgrid[v0:v1, u0:u1].astype(np.float32)
    uu, vv = uu.reshape(-1), vv.reshape(-1)
    rad = spheres.radii.astype(np.float32)
    for s0 in range(0, t_total, chunk):
        sl = slice(s0, min(s0 + chunk, t_total))
        d2 = (uu[None, None] - uc[sl, :, None]) ** 2 + (vv[None, None] - vc[sl, :, None]) ** 2
        q = 1.0 - d2 / np.maximum(rp[sl, :, None] ** 2, 1e-6)              # >0 inside the disc
        nz = np.sqrt(np.clip(q, 0.0, 1.0))
        zs = np.where(q > 0, z[sl, :, None] - rad[None, :, None] * nz, np.inf)
        k = np.argmin(zs, axis=1)                                          # nearest sphere per pixel
        zbest = np.take_along_axis(zs, k[:, None], 1)[:, 0]
        hit = np.isfinite(zbest)
        n = zbest.shape[0]
        depth[sl, v0:v1, u0:u1] = np.where(hit, zbest, 0.0).reshape(n, v1 - v0, u1 - u0)
        mat[sl, v0:v1, u0:u1] = np.where(hit, spheres.materials[k], BACKGROUND).reshape(n, v1 - v0, u1 - u0)
        shade[sl, v0:v1, u0:u1] = np.where(hit, np.take_along_axis(nz, k[:, None], 1)[:, 0], 0.0).reshape(
            n, v1 - v0, u1 - u0)
    return depth, mat, shade


def ir_image(mat: np.ndarray, shade: np.ndarray, obj: HeldObject | None, rng: np.random.Generator,
             noise: float) -> np.ndarray:
    """uint8 IR frames: reflectance x (0.4 + 0.6 shading); the background is visible (IR is not masked)."""
    refl = np.array([IR_REFLECTANCE[BACKGROUND], IR_REFLECTANCE[SKIN], IR_REFLECTANCE[SHIRT],
                     IR_REFLECTANCE[PANTS], obj.ir if obj is not None else 0.0], dtype=np.float32)
    lit = np.where(mat == BACKGROUND, 1.0, 0.4 + 0.6 * shade)
    img = 255.0 * refl[mat] * lit + rng.normal(0, noise, mat.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def rgb_image(mat: np.ndarray, shade: np.ndarray, subject: Subject, obj: HeldObject | None,
              background: tuple[int, int, int], rng: np.random.Generator, noise: float) -> np.ndarray:
    """uint8 RGB frames (T, H, W, 3): material colours with shading over a vertical-gradient background."""
    t, h, w = mat.shape
    pal = np.array([background, subject.skin, subject.shirt, subject.pants,
                    obj.color if obj is not None else (0, 0, 0)], dtype=np.float32)
    img = pal[mat] * np.where(mat == BACKGROUND, 1.0, 0.55 + 0.45 * shade)[..., None]
    grad = np.linspace(0.85, 1.1, h, dtype=np.float32)[None, :, None, None]
    img = np.where((mat == BACKGROUND)[..., None], img * grad, img)
    img = img + rng.normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)
