// The Debian serial HDF5 headers live in include/hdf5/serial; pkg-config adds that folder and
// the library to link (hdf5 or hdf5_serial), so no `link` line is hard-coded in the module map.
#include <hdf5.h>
