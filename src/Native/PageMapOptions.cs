using System;

namespace NativeZcopy.Native;

/// <summary>How a page source should map fresh memory beyond "read/write, zeroed".</summary>
[Flags]
internal enum PageMapOptions
{
    /// <summary>Pages are faulted in on first touch.</summary>
    None = 0,

    /// <summary>Fault every page in during the map call itself (Linux: MAP_POPULATE / MADV_POPULATE_WRITE).</summary>
    Prefault = 1,

    /// <summary>Align to the kernel's huge page and ask for transparent huge pages (Linux: MADV_HUGEPAGE); a hint only.</summary>
    HugePages = 2,
}
