#include "mtlemu.h"
