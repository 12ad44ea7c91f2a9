using System;
using System.Threading;

namespace NativeZcopy;

/// <summary>How a <see cref="ZcopyAllocator"/> sizes and aligns what it hands out.</summary>
public sealed class ZcopyAllocatorOptions
{
    /// <summary>
    /// The default folio: 64 KiB. Sixteen 4 KiB pages amortize one map and one unmap over 512 pieces of
    /// 128 B, while a folio pinned by one long-lived piece costs 64 KiB, not megabytes.
    /// </summary>
    public const int DefaultFolioSize = 64 * 1024;

    /// <summary>The default alignment: 8 bytes, the natural alignment of every primitive a header holds.</summary>
    public const int DefaultAlignment = 8;

    /// <summary>
    /// Bytes per folio, the unit the allocator maps and breaks pieces off. A power of two, at least the OS
    /// page size and at most 1 GiB. Pieces may be up to half of it.
    /// </summary>
    public int FolioSize { get; init; } = DefaultFolioSize;

    /// <summary>Every piece starts at a multiple of this: a power of two, at most the OS page size.</summary>
    public int Alignment { get; init; } = DefaultAlignment;

    /// <summary>
    /// Up to this many folios per arena whose last reference was dropped are kept mapped for reuse instead
    /// of unmapped (0, the default, unmaps at once: the design's policy; an arena still parks one folio that
    /// pieces held when it moved on, and reissues it in place when they are back, see
    /// <see cref="Arenas.Arena"/>). At most
    /// <c>RetainedFoliosPerArena x FolioSize x ArenaCount</c> bytes are held this way; <see cref="ZcopyAllocator.Trim"/>
    /// and <see cref="ZcopyAllocator.Dispose"/> give them back. From 0 to 1024: the <see cref="ZcopyAllocator"/>
    /// constructor refuses any other value with <see cref="ArgumentException"/>.
    /// </summary>
    public int RetainedFoliosPerArena { get; init; }

    /// <summary>
    /// Fault each fresh folio in with the map call itself (Linux: MAP_POPULATE, one system call) instead of
    /// one page fault per page on first touch. On by default: see docs/benchmarks.md for the measurement. No
    /// effect on Windows or macOS, whose backends map with VirtualAlloc or a plain mmap, having no such flag.
    /// </summary>
    public bool PrefaultFolios { get; init; } = true;

    /// <summary>
    /// For folios that are a whole number of the kernel's transparent huge page (2 MiB on x86-64 and on arm64
    /// with 4 KiB pages), align them to it and ask for huge pages (Linux: MADV_HUGEPAGE). A hint; ignored for
    /// other folios, where THP is set to never, and on other systems.
    /// </summary>
    public bool TransparentHugePages { get; init; } = true;

    /// <summary>
    /// Let each thread cut pieces up to a quarter of its largest slice (16 KiB with the default folio) from a
    /// slice of a folio it takes for itself (8 KiB at first, or room for four of the piece that opens it,
    /// doubling up to a whole folio while the thread keeps using them), and take back the pieces it releases there,
    /// with no lock and no atomic operation per piece (on by default). Releases of pieces up to 2 KiB on
    /// another folio (another thread's, or one the slice has moved past) are deferred per thread and
    /// dropped from the folio's count in one step when the thread releases a piece of another folio, when
    /// they are all the folio has left (so the final release still unmaps at once), before the thread next
    /// enters an arena, or by <see cref="ZcopyAllocator.Trim"/>. A thread therefore keeps up to one folio
    /// mapped for its slice and up to one for its deferred releases, even when idle, until
    /// <see cref="ZcopyAllocator.Trim"/> or <see cref="ZcopyAllocator.Dispose"/> takes them back (from live and
    /// dead threads alike), and <see cref="NativePages.RefCount"/> read on one thread still counts references
    /// another thread released and has not dropped yet. Each thread that cuts or defers through a thread cache
    /// also holds a 128-byte native block with its slice's state (one per thread, whatever the allocators), freed after the thread dies
    /// and a reclaim (<see cref="ZcopyAllocator.Trim"/>, <see cref="ZcopyAllocator.Dispose"/>, or another
    /// thread's first allocation) has pruned it. Off, every piece is cut under its processor's arena
    /// lock and every release drops its reference at once with one atomic operation. Always off while
    /// fragments are tracked, since tracking records every piece and every release, and when
    /// <see cref="Alignment"/> is above a quarter of the first slice (2 KiB with folios of 32 KiB and more),
    /// since a slice must hold several aligned pieces, and for 1 GiB folios at an alignment of 1, whose
    /// reference count would have no room for slices.
    /// </summary>
    public bool ThreadCache { get; init; } = true;

    /// <summary>
    /// The value of the <c>nativezcopy.allocator</c> tag this allocator's metrics carry. When null, an
    /// allocator is named <c>allocator-N</c> in creation order (<see cref="ZcopyAllocator.Shared"/> is
    /// <c>shared</c>). Allocators given the same name are reported as one, their figures summed; the counters
    /// keep the counts of the name's collected allocators for the life of the process.
    /// </summary>
    public string? Name { get; init; }

    /// <summary>The sample rate Netty's leak detector defaults to, for <see cref="TrackingSampleRate"/>.</summary>
    public const int DefaultTrackingSampleRate = 128;

    /// <summary>
    /// Diagnostics: record every fragment with the stack trace of its allocation, refuse a second release
    /// of a fragment with <see cref="InvalidOperationException"/> even while its folio has other refs, and
    /// list the live ones in <see cref="ZcopyAllocator.GetOutstandingFragments"/>. The same as
    /// <see cref="TrackingSampleRate"/> = 1. Off (the default) costs nothing on the hot path.
    /// </summary>
    public bool TrackFragments { get; init; }

    /// <summary>
    /// Diagnostics a server can leave on: 0 (the default) tracks nothing, 1 tracks every fragment (as
    /// <see cref="TrackFragments"/>), N tracks one folio life in N and every fragment cut from it, so on
    /// average one fragment in N pays for a stack trace. <see cref="DefaultTrackingSampleRate"/> is 128.
    /// Combined with <see cref="TrackFragments"/> it must be 0 or 1. The <see cref="ZcopyAllocator"/> constructor
    /// refuses a negative rate, or one above 1 with <see cref="TrackFragments"/>, with <see cref="ArgumentException"/>.
    /// </summary>
    public int TrackingSampleRate { get; init; }

    /// <summary>
    /// A tracked fragment still outstanding this long after its allocation is reported as leaked, once,
    /// through <see cref="ZcopyAllocator.FragmentLeaked"/> and <see cref="ZcopyStatistics.FragmentsLeaked"/>,
    /// by a check that runs every half of this (between 1 and 30 seconds).
    /// <see cref="Timeout.InfiniteTimeSpan"/> turns the periodic check off. Default: one minute, far longer
    /// than a piece stays in a send on a healthy connection, and short enough that a leak is reported while
    /// someone is looking.
    /// Whatever it is, Dispose reports every tracked fragment still outstanding. The <see cref="ZcopyAllocator"/>
    /// constructor refuses a negative age other than <see cref="Timeout.InfiniteTimeSpan"/> with
    /// <see cref="ArgumentException"/>.
    /// </summary>
    public TimeSpan LeakReportAge { get; init; } = TimeSpan.FromMinutes(1);
}
