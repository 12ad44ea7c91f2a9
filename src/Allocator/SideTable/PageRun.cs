using System.Runtime.InteropServices;

namespace NativeZcopy.SideTable;

/// <summary>
/// What the side table knows about one mapping (a folio or a <see cref="NativePages.Alloc(int)"/> run): the
/// page's metadata lives here, never in the page, so the page's bytes are all the user's.
/// </summary>
/// <remarks>
/// Ownership: <see cref="Base"/>, <see cref="Length"/> and <see cref="Owner"/> are written only by the
/// thread that registers the run, under the table's registration lock and before the run's leaf entries
/// are published, and are not written again until the run is unregistered; readers that reached the run
/// through a published entry may read them plainly. <see cref="State"/> is touched only with
/// <see cref="System.Threading.Interlocked"/> and <see cref="System.Threading.Volatile"/>.
/// <para>
/// 64 bytes, so that two descriptors' <see cref="State"/> words never share a cache line: descriptors sit
/// side by side in their chunk, and two arenas' current folios are often neighbours there. At 32 bytes, two
/// threads releasing pieces of their own folios could take the other's line on every compare-and-swap of
/// <see cref="State"/>. A descriptor is one whole line only if its chunk's data starts on one, which the
/// runtime does not promise (arrays are 8-byte aligned; a probe found the first chunk's data 48 bytes into a
/// line), so a descriptor's fields usually span two lines, the second shared with its neighbour's
/// <see cref="State"/>. With the thread cache a folio's count moves about once per slice, so the two-thread
/// scenario measured the same at 32 and 64 bytes (docs/benchmarks.md, step 26), and 128 bytes, which keeps
/// neighbours off each other's lines wherever the chunk lands, measured no gain in scenarios 1-4 (step 52).
/// </para>
/// <para>
/// Explicit layout, because the runtime gives a sequential struct holding a reference the automatic
/// layout, which ignores <see cref="StructLayoutAttribute.Size"/>: declared sequential with a size of 64,
/// this struct was 32 bytes until docs/benchmarks.md step 26 found it.
/// </para>
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = 64)]
internal struct PageRun
{
    /// <summary>
    /// <c>(generation &lt;&lt; 32) | refcount</c>. The generation changes each time the descriptor is freed
    /// or a folio is reissued in place, so a stale entry or piece can never move another run's count.
    /// </summary>
    [FieldOffset(0)]
    public long State;

    /// <summary>First byte of the mapping, as the page source returned it.</summary>
    [FieldOffset(8)]
    public nint Base;

    /// <summary>Mapped length in bytes: a whole number of OS pages.</summary>
    [FieldOffset(16)]
    public nuint Length;

    /// <summary>Who returns the mapping to its page source when the last ref goes.</summary>
    [FieldOffset(24)]
    public PageRunOwner? Owner;

    /// <summary>
    /// 1 once the kernel may still read bytes of this mapping that its holders have let go (a zero-copy
    /// send abandoned when its socket closed): the mapping is then unmapped at its final release, never
    /// reissued in place or kept for reuse, so no new piece can rewrite those bytes. Set with
    /// <see cref="System.Threading.Volatile"/> by a releasing thread before its Put; reset by Register.
    /// </summary>
    [FieldOffset(32)]
    public int Quarantined;
}
