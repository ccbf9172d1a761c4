"""DICOM series: finding them in a folder, classifying their kernels, reading their voxels.

Everything here goes through SimpleITK's GDCM I/O inside ``locale_guard.keep_locale``,
because GDCM can leave the process locale at "C" (after which Python's text files default
to ASCII).
"""
