"""Rendering of the synthetic world: analytic ray casting, a room, Kinect-like depth, IR and RGB.

The body and its prop are a few dozen analytic primitives (capsules, ellipsoids, boxes) in a
camera frame with NTU axes (X towards image right, Y up, Z forward; ``u = cx + fx X / Z``,
``v = cy - fy Y / Z``). :func:`raycast` intersects the ray of every pixel with them exactly:
each primitive is cast only inside its own projected window, vectorised over all frames of a
clip at once (arrays ``(T, h, w)``), and merged into a z-buffer, so a clip costs a few
milliseconds per frame at the default sizes. Because the ray through pixel (u, v) is
``Z * ((u - cx) / fx, -(v - cy) / fy, 1)``, the z-buffer is the Kinect depth Z itself, and
back-projecting a depth pixel gives the surface point in the skeleton's frame.

Outputs per camera: ``z (T, H, W)`` metres (``inf`` where nothing is hit), unit normals
``(T, H, W, 3)`` and material index ``(T, H, W)`` (-1 = background). The static room behind
the performer (:class:`Scene`) is cast once per camera.

Shading:

* depth: Z in millimetres plus axial noise growing with Z^2, silhouette-edge dropout; masked
  depth keeps only the person and the held prop (0 elsewhere), as NTU's masked depth;
* IR (active illumination, auto-exposed): reflectance x (0.3 + 0.7 cos(angle to the camera)),
  no distance fall-off on the performer (Kinect IR frames are exposure normalised), so IR
  carries reflectance and shape shading but no absolute distance;
* RGB: albedo x (ambient + diffuse) under one directional light, textured room behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .body import BODY_SHAPES, J, Material, Subject, frame_from, rot_y
from .config import Camera

CAMERA_YAW_DEG: dict[int, float] = {1: 0.0, 2: 45.0, 3: -45.0}


# ----------------------------------------------------------------------------- primitives


@dataclass
class Primitive:
    """One primitive over T frames, in a camera frame.

    kind "capsule": ``p0``/``p1`` (T, 3) segment ends, ``size`` (1,) radius.
    kind "ellipsoid": ``p0`` (T, 3) centre, ``rot`` (T, 3, 3) axes as columns, ``size`` (3,) semi-axes.
    kind "box": ``p0`` (T, 3) centre, ``rot`` (T, 3, 3), ``size`` (3,) or (T, 3) half extents.
    """

    kind: str
    p0: np.ndarray
    size: np.ndarray
    material: int
    p1: np.ndarray | None = None
    rot: np.ndarray | None = None

    def shifted(self, dx: float) -> Primitive:
        """The primitive seen from a camera whose centre is ``dx`` metres to the -X side."""
        off = np.array([dx, 0.0, 0.0])
        return Primitive(self.kind, self.p0 + off, self.size, self.material,
                         None if self.p1 is None else self.p1 + off, self.rot)

    def bounding_sphere(self) -> tuple[np.ndarray, np.ndarray]:
        """Centre (T, 3) and radius (T,)."""
        if self.kind == "capsule":
            c = 0.5 * (self.p0 + self.p1)
            return c, 0.5 * np.linalg.norm(self.p1 - self.p0, axis=-1) + float(self.size[0])
        if self.kind == "box":
            return self.p0, np.broadcast_to(np.linalg.norm(self.size, axis=-1), self.p0.shape[:1])
        return self.p0, np.full(self.p0.shape[0], float(np.max(self.size)))


def _rays(cam: Camera, vs: np.ndarray, us: np.ndarray) -> np.ndarray:
    """(T, h, w, 3) ray directions with unit Z through pixel rows ``vs`` (T, h) and columns ``us`` (T, w)."""
    t, h = vs.shape
    w = us.shape[1]
    d = np.empty((t, h, w, 3))
    d[..., 0] = ((us - cam.cx) / cam.fx)[:, None, :]
    d[..., 1] = (-(vs - cam.cy) / cam.fy)[:, :, None]
    d[..., 2] = 1.0
    return d


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...i->...", a, b)


def _hit_capsule(p: Primitive, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b, r = p.p0[:, None, None], p.p1[:, None, None], float(p.size[0])
    ba = b - a
    oa = -a
    baba = _dot(ba, ba)
    bard = _dot(ba, d)
    baoa = _dot(ba, oa)
    rdoa = _dot(d, oa)
    oaoa = _dot(oa, oa)
    dd = _dot(d, d)
    qa = baba * dd - bard * bard
    qb = baba * rdoa - baoa * bard
    qc = baba * oaoa - baoa * baoa - r * r * baba
    h = qb * qb - qa * qc
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-qb - np.sqrt(h)) / qa
        y = baoa + t * bard
        body = (h >= 0) & (y > 0) & (y < baba)
        oc = np.where((y <= 0)[..., None], oa, -b)
        cb = _dot(d, oc)
        cc = _dot(oc, oc) - r * r
        hh = cb * cb - dd * cc
        tc = (-cb - np.sqrt(hh)) / dd
    z = np.where(body, t, np.where((h >= 0) & (hh >= 0), tc, np.inf))
    z = np.where(z > 0, z, np.inf)
    pt = np.where(np.isfinite(z), z, 0.0)[..., None] * d
    s = np.clip(_dot(pt - a, ba) / np.maximum(baba, 1e-12), 0.0, 1.0)
    n = (pt - (a + s[..., None] * ba)) / r
    return z, n


def _hit_ellipsoid(p: Primitive, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ax = p.size
    rot = p.rot
    o = -np.einsum("tji,tj->ti", rot, p.p0) / ax                     # (T, 3) origin in unit-sphere space
    dl = np.einsum("tji,thwj->thwi", rot, d) / ax                  # (T, h, w, 3)
    o4 = o[:, None, None]
    qa = _dot(dl, dl)
    qb = _dot(o4, dl)
    qc = _dot(o4, o4) - 1.0
    disc = qb * qb - qa * qc
    with np.errstate(invalid="ignore"):
        s = (-qb - np.sqrt(disc)) / qa
    z = np.where((disc >= 0) & (s > 0), s, np.inf)
    pl = o4 + np.where(np.isfinite(z), z, 0.0)[..., None] * dl
    n = np.einsum("tij,thwj->thwi", rot, pl / ax)
    return z, n


def _hit_box(p: Primitive, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    half = p.size[:, None, None, :] if p.size.ndim == 2 else p.size
    rot = p.rot
    o = -np.einsum("tji,tj->ti", rot, p.p0)[:, None, None]
    dl = np.einsum("tji,thwj->thwi", rot, d)
    dl = np.where(np.abs(dl) < 1e-12, 1e-12, dl)
    t1 = (-half - o) / dl
    t2 = (half - o) / dl
    tmin = np.minimum(t1, t2)
    tmax = np.maximum(t1, t2)
    near = tmin.max(-1)
    far = tmax.min(-1)
    z = np.where((near <= far) & (near > 0), near, np.inf)
    axis = tmin.argmax(-1)
    nl = np.zeros(dl.shape)
    np.put_along_axis(nl, axis[..., None], -np.sign(np.take_along_axis(dl, axis[..., None], -1)), -1)
    n = np.einsum("tij,thwj->thwi", rot, nl)
    return z, n


_HIT = {"capsule": _hit_capsule, "ellipsoid": _hit_ellipsoid, "box": _hit_box}


def _window(p: Primitive, cam: Camera) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Per-frame top-left pixel (T,), (T,) and a window size (h, w) covering the primitive."""
    c, rad = p.bounding_sphere()
    corners = c[:, None, :] + rad[:, None, None] * np.array(
        [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    z = np.maximum(corners[..., 2], 0.05)
    u = cam.cx + cam.fx * corners[..., 0] / z
    v = cam.cy - cam.fy * corners[..., 1] / z
    u0, u1 = np.floor(u.min(1)), np.ceil(u.max(1))
    v0, v1 = np.floor(v.min(1)), np.ceil(v.max(1))
    w = int(min(cam.width, max(1.0, (u1 - u0).max() + 1)))
    h = int(min(cam.height, max(1.0, (v1 - v0).max() + 1)))
    # windows slide into the image (never out of it), so indices are unique and valid
    u0 = np.clip(u0, 0, cam.width - w).astype(np.int64)
    v0 = np.clip(v0, 0, cam.height - h).astype(np.int64)
    return v0, u0, h, w


def raycast(prims: list[Primitive], cam: Camera, num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cast every pixel ray against ``prims``.

    Returns:
        z (T, H, W) float64 metres (``inf`` = no hit), normals (T, H, W, 3) float32 unit vectors
        (zero where nothing is hit) and material index (T, H, W) int16 (-1 = no hit).
    """
    t, hh, ww = num_frames, cam.height, cam.width
    zflat = np.full(t * hh * ww, np.inf)
    nflat = np.zeros((t * hh * ww, 3), dtype=np.float32)
    mflat = np.full(t * hh * ww, -1, dtype=np.int16)
    base = (np.arange(t) * hh)[:, None, None]
    for p in prims:
        v0, u0, h, w = _window(p, cam)
        vs = v0[:, None] + np.arange(h)[None]
        us = u0[:, None] + np.arange(w)[None]
        d = _rays(cam, vs.astype(np.float64), us.astype(np.float64))
        z, n = _HIT[p.kind](p, d)
        flat = (base + vs[:, :, None]) * ww + us[:, None, :]
        better = z < zflat[flat]
        if not better.any():
            continue
        sel = flat[better]
        zflat[sel] = z[better]
        nb = n[better]
        nflat[sel] = nb / np.maximum(np.linalg.norm(nb, axis=-1, keepdims=True), 1e-12)
        mflat[sel] = p.material
    return zflat.reshape(t, hh, ww), nflat.reshape(t, hh, ww, 3), mflat.reshape(t, hh, ww)


# ----------------------------------------------------------------------------- body -> primitives


def body_primitives(subject: Subject, joints: np.ndarray, glob: np.ndarray,
                    material_index: dict[str, int]) -> list[Primitive]:
    """The subject's primitives for a posed clip given in a camera frame ((T, V, 3), (T, V, 3, 3))."""
    out = []
    for shape in BODY_SHAPES:
        size = np.asarray(subject.radius(shape))
        mat = material_index[shape.material]
        if shape.kind == "capsule":
            out.append(Primitive("capsule", joints[:, J[shape.a]], size, mat, p1=joints[:, J[shape.b]]))
        else:
            rot = glob[:, J[shape.frame or shape.a]]
            centre = joints[:, J[shape.a]] + np.einsum("tij,j->ti", rot, np.asarray(shape.offset)
                                                       * subject.height_scale)
            out.append(Primitive("ellipsoid", centre, size, mat, rot=rot))
    return out


#: gap between the frontmost hand joint and a box prop's back face (hand radius + margin), metres
PROP_GAP = 0.05
#: thickness at which a box prop has its nominal face size (thicker props are scaled down so that
#: their silhouette is the same; thickness shows in depth only)
PROP_REF_THICKNESS = 0.012


def prop_primitive(prop, joints: np.ndarray, glob: np.ndarray, up: np.ndarray, material: int) -> Primitive:
    """The held prop in a camera frame.

    ``up`` is the world's up direction in that camera frame. A "capsule" prop stands upright
    in front of the right hand. A "box" prop sits between the hands, clear of them, moved
    towards the camera along the ray through the hands' midpoint and facing the camera; its
    face is scaled with its distance so that the silhouette (and what it hides) does not depend
    on its thickness.
    """
    if prop.kind == "capsule":
        fwd = glob[:, J["SpineBase"], :, 2]
        centre = joints[:, J["HandRight"]] + 0.055 * fwd + 0.01 * up
        half = float(prop.size[1])
        return Primitive("capsule", centre - half * up, np.array([prop.size[0]]), material, p1=centre + half * up)
    mid = 0.5 * (joints[:, J["HandLeft"]] + joints[:, J["HandRight"]])
    dist = np.linalg.norm(mid, axis=-1, keepdims=True)
    ray = mid / dist
    # the back face clears every part of both hands (fingers may point at the camera)
    hand = joints[:, [J[n] for n in ("WristLeft", "HandLeft", "HandTipLeft", "WristRight", "HandRight",
                                     "HandTipRight")]]
    ahead = np.einsum("tkc,tc->tk", mid[:, None] - hand, ray).max(-1, keepdims=True)
    gap = np.maximum(ahead, 0.0) + PROP_GAP
    w, h, thick = prop.size
    centre = mid - ray * (thick / 2 + gap)
    face = (dist - thick - gap) / (dist - PROP_REF_THICKNESS - gap)                  # (T, 1)
    half = np.concatenate([face * (w / 2), face * (h / 2), np.full_like(face, thick / 2)], -1)
    # the face is exactly perpendicular to the ray (so thickness never shows at the rim)
    f = frame_from(-ray, np.broadcast_to(up, ray.shape))             # columns: normal, up', normal x up'
    rot = np.stack([-f[..., 2], f[..., 1], f[..., 0]], -1)            # columns: side, up, normal
    return Primitive("box", centre, half, material, rot=rot)


# ----------------------------------------------------------------------------- scene


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(3, 3) world -> camera rotation (rows: X = sensor's left = image right, Y up, Z forward)."""
    f = target - position
    f = f / np.linalg.norm(f)
    x = np.cross(np.array([0.0, 1.0, 0.0]), f)
    x /= np.linalg.norm(x)
    y = np.cross(f, x)
    return np.stack([x, y, f])


@dataclass
class Scene:
    """One NTU setup: the room, the three-Kinect rig, the light (deterministic from setup, seed).

    Attributes:
        radius: camera distance from the stage centre; height, target_height: camera and aim heights.
        room: half width (x), back wall depth (-z), front wall (+z), ceiling height.
        wall, floor, poster, door: RGB albedos; light: world direction towards the light.
    """

    setup: int
    radius: float
    height: float
    target_height: float
    room: tuple[float, float, float, float]
    wall: np.ndarray
    floor: np.ndarray
    poster: np.ndarray
    poster_box: tuple[float, float, float, float]
    door: np.ndarray
    light: np.ndarray
    wall_ir: float
    cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, setup: int, seed: int = 0) -> Scene:
        rng = np.random.default_rng([seed, 21, setup])
        wall = rng.uniform(0.45, 0.85, 3)
        floor = rng.uniform(0.25, 0.55, 3)
        light = np.array([rng.uniform(-0.5, 0.5), 1.0, rng.uniform(0.4, 0.9)])
        px = rng.uniform(-1.6, 0.6)
        py = rng.uniform(1.0, 1.4)
        return cls(setup=setup, radius=float(rng.uniform(2.7, 3.1)), height=float(rng.uniform(0.8, 1.1)),
                   target_height=float(rng.uniform(0.85, 1.0)),
                   room=(float(rng.uniform(2.6, 3.4)), float(rng.uniform(1.8, 2.6)), 4.6, 2.8),
                   wall=wall, floor=floor, poster=rng.uniform(0.1, 0.9, 3),
                   poster_box=(px, px + rng.uniform(0.5, 1.0), py, py + rng.uniform(0.4, 0.8)),
                   door=rng.uniform(0.2, 0.6, 3), light=light / np.linalg.norm(light),
                   wall_ir=float(rng.uniform(0.35, 0.55)))

    def camera_pose(self, camera: int) -> tuple[np.ndarray, np.ndarray]:
        """World position (3,) and world->camera rotation (3, 3) of Kinect ``camera``."""
        th = np.deg2rad(CAMERA_YAW_DEG[camera])
        pos = np.array([self.radius * np.sin(th), self.height, self.radius * np.cos(th)])
        return pos, look_at(pos, np.array([0.0, self.target_height, 0.0]))

    def background(self, camera: int, cam: Camera) -> dict[str, np.ndarray]:
        """The empty room seen by Kinect ``camera`` through ``cam`` (cached).

        Returns "z" (H, W) metres, "rgb" (H, W, 3) shaded colour in [0, 1], "ir" (H, W) in [0, 1].
        """
        key = (camera, cam)
        if key in self.cache:
            return self.cache[key]
        pos, rc = self.camera_pose(camera)
        origin = pos + rc.T @ np.array([-cam.baseline, 0.0, 0.0])
        vs, us = np.arange(cam.height, dtype=np.float64), np.arange(cam.width, dtype=np.float64)
        d_cam = _rays(cam, vs[None], us[None])[0]                           # (H, W, 3), unit Z
        d = d_cam @ rc                                                      # world directions
        hx, back, front, ceil = self.room
        planes = [  # (normal, offset): points p with n.p = offset, normal facing into the room
            (np.array([0.0, 1.0, 0.0]), 0.0, "floor"), (np.array([0.0, -1.0, 0.0]), -ceil, "ceiling"),
            (np.array([0.0, 0.0, 1.0]), -back, "back"), (np.array([0.0, 0.0, -1.0]), -front, "front"),
            (np.array([1.0, 0.0, 0.0]), -hx, "left"), (np.array([-1.0, 0.0, 0.0]), -hx, "right")]
        best = np.full(d.shape[:2], np.inf)
        which = np.zeros(d.shape[:2], dtype=np.int64)
        for k, (n, off, _) in enumerate(planes):
            den = d @ n
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (off - origin @ n) / den
            ok = (den < 0) & (t > 0) & (t < best)
            best = np.where(ok, t, best)
            which = np.where(ok, k, which)
        p = origin + best[..., None] * d
        normals = np.stack([planes[k][0] for k in range(len(planes))])[which]
        albedo = np.empty(d.shape)
        ir = np.full(d.shape[:2], self.wall_ir)
        albedo[:] = self.wall
        floor = which == 0
        albedo[floor] = self.floor
        ir[floor] = 0.3
        albedo[which == 1] = 0.85
        ir[which == 1] = 0.5
        skirting = (which >= 2) & (p[..., 1] < 0.12)
        albedo[skirting] = self.wall * 0.45
        x0, x1, y0, y1 = self.poster_box
        poster = (which == 2) & (p[..., 0] > x0) & (p[..., 0] < x1) & (p[..., 1] > y0) & (p[..., 1] < y1)
        albedo[poster] = self.poster
        ir[poster] = 0.25
        door = (which >= 4) & (np.abs(p[..., 2] + 0.3) < 0.45) & (p[..., 1] < 2.05)
        albedo[door] = self.door
        # flat shading per wall (directional light; IR: emitter-facing walls brighter), so the room
        # costs little in the intra-only lossless videos
        shade = 0.55 + 0.45 * np.clip(normals @ self.light, 0.0, 1.0)
        facing = np.abs(normals @ (rc.T @ np.array([0.0, 0.0, 1.0])))
        # t along a ray with unit Z is the camera Z
        out = {"z": best, "rgb": albedo * shade[..., None], "ir": ir * (0.35 + 0.45 * facing)}
        self.cache[key] = out
        return out


def place_performer(setup: int, performer: int, replication: int, key: tuple[int, ...],
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stage -> world rotation (3, 3) and offset (3,) of one performance.

    The performer faces camera 1 (the frontal Kinect), turned by about +-12 degrees depending on
    the replication, and stands up to 0.3 m from the stage centre.
    """
    rng = np.random.default_rng([seed, 31, *key])
    yaw = (12.0 if replication == 1 else -12.0) + rng.uniform(-8.0, 8.0)
    offset = np.array([rng.uniform(-0.3, 0.3), 0.0, rng.uniform(-0.3, 0.3)])
    return rot_y(np.deg2rad(yaw)), offset


# ----------------------------------------------------------------------------- shading


def material_table(subject: Subject, prop_material: Material | None) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
    """Material name -> index, and (K, 3) RGB albedo / (K,) IR reflectance arrays."""
    names = list(subject.materials)
    mats = [subject.materials[n] for n in names]
    if prop_material is not None:
        names.append("prop")
        mats.append(prop_material)
    index = {n: k for k, n in enumerate(names)}
    return index, np.array([m.rgb for m in mats]), np.array([m.ir for m in mats])


def _view_dirs(cam: Camera, v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(N, 3) unit vectors from the surface towards the camera at pixels (v, u)."""
    d = np.stack([(u - cam.cx) / cam.fx, -(v - cam.cy) / cam.fy, np.ones(len(u))], -1)
    return -d / np.linalg.norm(d, axis=-1, keepdims=True)


def shade_rgb(normal: np.ndarray, mat: np.ndarray, albedo: np.ndarray, light_cam: np.ndarray,
              background: np.ndarray, exposure: float, rng: np.random.Generator | None = None,
              noise: float = 0.0) -> np.ndarray:
    """(T, H, W, 3) uint8 colour: Lambertian performer (albedo x (0.5 + 0.55 diffuse)) over the room."""
    t = mat.shape[0]
    out = np.broadcast_to(to_uint8(np.clip(background * exposure, 0, 1)), (t, *background.shape)).copy()
    hit = mat >= 0
    n = normal[hit]
    diffuse = np.clip(n @ light_cam.astype(np.float32), 0.0, 1.0)
    col = albedo[mat[hit]] * (0.5 + 0.55 * diffuse)[:, None] * exposure
    out[hit] = to_uint8(np.clip(col, 0, 1))
    if noise > 0 and rng is not None:
        out = to_uint8(out / 255.0, rng, noise)
    return out


def shade_ir(normal: np.ndarray, mat: np.ndarray, refl: np.ndarray, cam: Camera, background: np.ndarray,
             gain: float, rng: np.random.Generator | None = None, noise: float = 0.0) -> np.ndarray:
    """(T, H, W) uint8 IR: reflectance x (0.3 + 0.7 cos(angle to the camera)) x gain, room behind."""
    t = mat.shape[0]
    out = np.broadcast_to(to_uint8(np.clip(background * gain, 0, 1)), (t, *background.shape)).copy()
    tt, vv, uu = np.nonzero(mat >= 0)
    n = normal[tt, vv, uu]
    cosv = np.abs((n * _view_dirs(cam, vv.astype(np.float64), uu.astype(np.float64))).sum(-1))
    val = refl[mat[tt, vv, uu]] * (0.3 + 0.7 * cosv) * gain
    out[tt, vv, uu] = to_uint8(np.clip(val, 0, 1))
    if noise > 0 and rng is not None:
        out = to_uint8(out / 255.0, rng, noise)
    return out


def to_uint8(x: np.ndarray, rng: np.random.Generator | None = None, noise: float = 0.0) -> np.ndarray:
    """[0, 1] floats -> uint8, with optional Gaussian noise (std in 8-bit levels)."""
    y = x * 255.0
    if noise > 0 and rng is not None:
        y = y + rng.normal(0.0, noise, y.shape)
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def kinect_depth(z: np.ndarray, rng: np.random.Generator, noise_mm: float, edge_dropout: float) -> np.ndarray:
    """(T, H, W) metres (``inf`` = nothing) -> uint16 millimetres with Kinect-like noise, 0 = invalid.

    Noise is axial, std ``noise_mm * (Z / 3 m)^2``; pixels on the silhouette edge are dropped
    with probability ``edge_dropout`` (Kinect's flying-pixel filter).
    """
    hit = np.isfinite(z)
    zz = z[hit]
    mm = zz * 1000.0
    if noise_mm > 0:
        mm = mm + rng.normal(0.0, 1.0, zz.shape) * noise_mm * (zz / 3.0) ** 2
    out = np.zeros(z.shape, dtype=np.uint16)
    out[hit] = np.clip(np.rint(mm), 1, 65535).astype(np.uint16)
    if edge_dropout > 0:
        inner = hit.copy()
        inner[:, 1:] &= hit[:, :-1]
        inner[:, :-1] &= hit[:, 1:]
        inner[:, :, 1:] &= hit[:, :, :-1]
        inner[:, :, :-1] &= hit[:, :, 1:]
        edge = np.nonzero(hit & ~inner)
        drop = rng.random(len(edge[0])) < edge_dropout
        out[edge[0][drop], edge[1][drop], edge[2][drop]] = 0
    return out


__all__ = ["CAMERA_YAW_DEG", "Primitive", "Scene", "body_primitives", "kinect_depth", "look_at",
           "material_table", "place_performer", "prop_primitive", "raycast", "shade_ir", "shade_rgb", "to_uint8"]
