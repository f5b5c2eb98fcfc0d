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
from calolab.events.generate import GenerateReport, generate_events
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
from calolab.events.pythia import PROCESSES, GeneratorConfig, generate_particles
from calolab.events.response import DetectorCard, Particles, atlas_card, detector_response

__all__ = [
    "CHANNELS",
    "PROCESSES",
    "DetectorCard",
    "GenerateReport",
    "GeneratorConfig",
    "Particles",
    "atlas_card",
    "detector_response",
    "generate_events",
    "generate_particles",
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
