using System.Runtime.InteropServices;

namespace NativeZcopy.Bench.Interop.Unix.Libc;

/// <summary>glibc's <c>mallinfo2</c> (glibc 2.33+): what malloc holds from the OS, summed over its arenas.</summary>
internal static partial class MallInfo2Interop
{
    /// <summary>Returns malloc's statistics. glibc only: the C library is loaded by its versioned name.</summary>
    [LibraryImport("libc.so.6", EntryPoint = "mallinfo2")]
    internal static partial MallInfo2 GetMallInfo2();

    /// <summary>glibc's <c>struct mallinfo2</c>: ten <c>size_t</c> fields, in declaration order.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MallInfo2
    {
        /// <summary>Bytes obtained from the OS for arenas (brk and arena heaps), not counting mmapped chunks.</summary>
        public nuint Arena;

        /// <summary>Free chunks.</summary>
        public nuint OrdBlks;

        /// <summary>Free fastbin blocks.</summary>
        public nuint SmBlks;

        /// <summary>Chunks mapped by their own mmap.</summary>
        public nuint HBlks;

        /// <summary>Bytes in chunks mapped by their own mmap.</summary>
        public nuint HBlkHd;

        /// <summary>Unused (always 0).</summary>
        public nuint UsmBlks;

        /// <summary>Bytes in free fastbin blocks.</summary>
        public nuint FsmBlks;

        /// <summary>Bytes in chunks in use.</summary>
        public nuint UordBlks;

        /// <summary>Bytes in free chunks.</summary>
        public nuint FordBlks;

        /// <summary>Bytes releasable from the top of the heap.</summary>
        public nuint KeepCost;
    }
}
