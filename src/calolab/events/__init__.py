"""Collision events as images: Delphes import, Pythia 8 generation, a fast tower-level
detector response, η–φ images (ECAL E_T, HCAL E_T, track p_T), augmentation and datasets."""

from calolab.events.augment import Augmentation, flip_eta, flip_phi, roll_phi
from calolab.events.delphes import (
    DelphesBranches,
    ImportReport,
    ImportStats,
    import_delphes,
    inspect_delphes,
    iter_delphes,
    read_delphes,
)
from calolab.events.hdf5 import (
    ImageBatch,
    ImageFile,
    ImageWriter,
    merge_image_files,
    read_images,
    reimage_file,
)
from calolab.events.images import CHANNELS, ImageConfig, make_images, normalize
from calolab.events.objects import EventObjects

__all__ = [
    "CHANNELS",
    "Augmentation",
    "DelphesBranches",
    "EventObjects",
    "ImageBatch",
    "ImageConfig",
    "ImageFile",
    "ImageWriter",
    "ImportReport",
    "ImportStats",
    "flip_eta",
    "flip_phi",
    "import_delphes",
    "inspect_delphes",
    "iter_delphes",
    "make_images",
    "merge_image_files",
    "normalize",
    "read_delphes",
    "read_images",
    "reimage_file",
    "roll_phi",
]
