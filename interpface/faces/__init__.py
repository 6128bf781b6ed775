"""Faces, from a file to an aligned crop: everything before a model sees a face.

- :mod:`.images` — safe image loading (size, decode and format checks).
- :mod:`.landmarks` — face detection (HOG -> MMOD -> relaxed HOG) and dlib's 68 landmarks.
- :mod:`.align` — the similarity transform to the 110x110 aligned frame.
- :mod:`.template` — the frontal template, its mesh and named regions; the assets folder.
- :mod:`.occlusion` — landmark-warped synthetic occlusion (paper §3.4); :mod:`.occluders` — realistic
  occluders (masks, sunglasses, scarf, hand).
- :mod:`.datasets` — dataset readers and LFW protocols; :mod:`.prepare` — the aligned-face cache;
  :mod:`.pipeline` — one image in, an aligned face out; :mod:`.samples` — bundled sample faces.
- :mod:`.pose` — head pose from the 68 landmarks; :mod:`.quality` — face size and sharpness.
"""
