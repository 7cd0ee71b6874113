// Host emulation: the CUDA headers the engine includes resolve here (emu/ comes first on the
// include path of the emulations), so kernel sources compile unchanged on the host.
#pragma once
#include "emu_shim.h"
