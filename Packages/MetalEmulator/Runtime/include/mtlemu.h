#pragma once
/* Metal emulator runtime: no stable API. */
