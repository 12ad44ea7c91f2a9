using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading;
using NativeZcopy.Arenas;
using NativeZcopy.Diagnostics;
using NativeZcopy.Native;
using NativeZcopy.SideTable;
using NativeZcopy.ThreadCache;

namespace NativeZcopy;

/// <summary>
/// Hands out small pieces of native pages for zero-copy gather lists: protocol headers and trailers that
/// travel beside data pages and are released the same way, by dropping a reference on their page
/// (<see cref="NativePages.Put(in BioVec)"/>). The user-space twin of the kernel's <c>zcopy_alloc</c>.
/// </summary>
/// <remarks>
/// <para>
/// One <see cref="Arena"/> per processor (the processor count rounded up to a power of two, indexed by
/// <see cref="Thread.GetCurrentProcessorId"/>), each guarded by a spin lock, breaks pieces off its current
/// folio in order. A piece holds one reference on its folio; the folio is unmapped when the arena has let it
/// go and the last piece is released. Taking a piece costs an uncontended lock, a bump of an offset and no
/// atomic operation on the folio (see <see cref="Arena"/> for the bias accounting); no system call is ever
/// made under an arena lock.
/// </para>
/// <para>
/// Lifetime: a piece is valid until its reference is dropped. <see cref="Dispose"/> gives back the arenas'
/// own references; folios still referenced by pieces stay mapped until their last Put.
/// </para>
/// </remarks>
public sealed unsafe class ZcopyAllocator : IDisposable
{
    /// <summary>The largest folio: 1 GiB keeps a folio's byte offsets and its full share within an int.</summary>
    private const int MaxFolioSize = 1 << 30;

    /// <summary>
    /// The most folios an arena may retain: 1024 x 64 KiB is 64 MiB per arena, already more than a server
    /// would want pinned per processor; the bound also keeps the stash's linear search short.
    /// </summary>
    private const int MaxRetainedFoliosPerArena = 1024;

    /// <summary>
    /// Bytes of the first slice of a folio a thread (<see cref="ThreadSlice"/>) takes for its own pieces:
    /// 8 KiB holds 64 pieces of 128 B, so a thread that allocates a few pieces and goes idle keeps little of a
    /// folio from other threads (its slice keeps the folio mapped until <see cref="Trim"/>, as an arena's
    /// current folio does). A thread whose first piece is larger takes room for four of it instead, up to a
    /// whole folio for a 16 KiB piece.
    /// </summary>
    private const int FirstSliceSize = 8 * 1024;

    /// <summary>
    /// Bytes a busy thread's slices grow to, doubling from <see cref="FirstSliceSize"/> each time the thread
    /// used one up, and never more than a folio: a busy thread takes the default 64 KiB folio whole. Taking a
    /// slice (an arena lock and three atomic adds, on lines another thread may share) costs about 35 ns, paid
    /// once per 64 pieces of 1 KiB instead of once per 32 with the 32 KiB slices this was before: the 1 KiB
    /// pair went from 3.35 to 2.83 ns and MemDup of 2 KiB from 18.0 to 16.7 ns (docs/benchmarks.md, step 35;
    /// 8 KiB slices made the 1 KiB pair 13.7 ns against 8.3 with 32 KiB, step 15). A slice is not a user's
    /// piece, so the half-a-folio limit on pieces does not bind it. An idle thread still keeps at most one
    /// folio mapped for its slice, as an arena's current folio does, until Trim takes it back.
    /// </summary>
    private const int LargestSliceSize = 64 * 1024;

    /// <summary>
    /// The most aligned bytes (FolioSize / Alignment) a folio may have for slices to be cut from it: 2^29, so
    /// that its full share plus one reference per aligned byte that slices add stays below 2^31 (see
    /// PageSideTable.MaxDuplicatedCount). Only a 1 GiB folio at an alignment of 1 has more.
    /// </summary>
    private const int MaxSlicedAlignedBytes = 1 << 29;

    /// <summary>The name <see cref="Shared"/> reports under in the metrics.</summary>
    public const string SharedName = "shared";

    /// <summary>The process-wide allocator with default options, created on first use.</summary>
    private static ZcopyAllocator? s_shared;

    /// <summary>The last <see cref="Id"/> given out. Changed only with Interlocked.</summary>
    private static long s_lastId;

    /// <summary>
    /// How many arenas past its processor's this thread allocates from: 0 until the thread met a busy
    /// arena lock (see <see cref="EnterAnotherArena"/>). Shared by all allocators, since the collision it
    /// steers around comes from the thread's cached processor id, not from any one allocator.
    /// </summary>
    [ThreadStatic]
    private static int t_arenaShift;

    /// <summary>One arena per processor slot; see <see cref="Arena"/> for why they are structs side by side.</summary>
    private readonly Arena[] _arenas;

    /// <summary>Arena count minus one: the count is a power of two, so the modulo is a mask.</summary>
    private readonly int _arenaMask;

    /// <summary>Alignment minus one, for rounding piece sizes up.</summary>
    private readonly int _alignmentMask;

    /// <summary>Maps, counts and unmaps this allocator's folios.</summary>
    private readonly FolioOwner _owner;

    /// <summary>
    /// Maps, counts and unmaps the page runs of <see cref="ZcopyMemoryPool"/>s over this allocator (buffers
    /// above <see cref="MaxFragmentSize"/>), from the same page source as the folios; <see cref="Trim"/> and
    /// <see cref="Dispose"/> retry the unmaps the OS refused it, as they do the folios'.
    /// </summary>
    private readonly PageRunOwner _poolRuns;

    /// <summary>The diagnostic mode (see <see cref="ZcopyAllocatorOptions.TrackFragments"/>); null when off.</summary>
    private readonly FragmentTracker? _tracker;

    /// <summary>
    /// The largest <see cref="ZcopyStatistics.FragmentsAllocated"/> reported so far (Interlocked): the sum
    /// <see cref="GetStatistics"/> reads is not atomic, and a count moving between its parts during the read
    /// (a slice's pieces joining its arena's count, or the local caches') is missed or read twice. Reports are
    /// raised to this, so the count, an ObservableCounter, never goes backwards.
    /// </summary>
    private long _fragmentsReported;

    /// <summary>
    /// Local caches over this allocator that hold a slice and are not yet disposed, which <see cref="Dispose"/>
    /// shuts (<see cref="ZcopyLocalCache.Shut"/>) so that their fast path refuses every size without a check of
    /// its own, and whose pieces <see cref="GetStatistics"/> counts. A cache joins at its first slice, so one
    /// that never holds a folio is never kept alive here; <see cref="Shared"/> keeps its caches too, for the
    /// statistics (one never disposed keeps its slice's folio mapped anyway). Guarded by locking it; a cache's
    /// first slice, its Dispose, the allocator's Dispose and <see cref="GetStatistics"/> touch it.
    /// </summary>
    private readonly HashSet<ZcopyLocalCache> _localCaches = [];

    /// <summary>
    /// Held by a <see cref="Trim"/> for all its work and by <see cref="Dispose"/> for its give-back, so a
    /// Dispose returns only once a Trim running on another thread has unmapped the folios it took: a Trim holds
    /// a retained, spare or parked folio between taking it and unmapping it, where Dispose's own drain cannot
    /// see it (a soak found Dispose returning with that folio still mapped). Taken before the registry's lock.
    /// </summary>
    private readonly Lock _trimLock = new();

    /// <summary>Bytes of a thread's first slice: <see cref="FirstSliceSize"/>, or less when pieces must be smaller.</summary>
    private readonly int _firstSliceSize;

    /// <summary>Bytes a thread's slices grow to: <see cref="LargestSliceSize"/>, or less when pieces must be smaller.</summary>
    private readonly int _largestSliceSize;

    /// <summary>
    /// Largest piece any slice (a thread's or a local cache's) may cut: a quarter of the largest slice (16 KiB
    /// with the default folio; the cap at <see cref="MaxFragmentSize"/>, half a folio, is only a guard). A slice
    /// only moves forward, so a piece that does not fit in what is left of one ends it and leaves the rest
    /// unused for that folio life: less than that piece, so at most 16 KiB, where an arena leaves up to half a
    /// folio the same way. A slice is taken with room for four such pieces. It was a quarter of the first slice
    /// (2 KiB): pieces from 2 to 16 KiB then took the arena's lock and an atomic release each, 34 ns a pair at
    /// 4 KiB against 3 ns for ArrayPool (docs/benchmarks.md, step 40). 0 when the alignment leaves no room for
    /// slices (see the constructor).
    /// </summary>
    private readonly int _sliceCutLimit;

    /// <summary>
    /// Largest piece cut from a thread slice: <see cref="_sliceCutLimit"/>, or 0 when the thread cache is off
    /// (by option, or because tracking must see every piece).
    /// </summary>
    private readonly int _maxSlicedSize;

    /// <summary>
    /// A number no other allocator of the process has, never 0: what a thread's slice block stores in place of
    /// a reference to the allocator its slice was cut from (<see cref="ThreadSliceState.AllocatorId"/>), since a
    /// native block cannot hold a GC reference (the GC neither scans nor updates it). Taken from a process-wide
    /// 64-bit counter, so never reused; compared on every cut.
    /// </summary>
    internal long Id { get; } = Interlocked.Increment(ref s_lastId);

    /// <summary>This allocator's folio owner, for local caches.</summary>
    internal FolioOwner Owner => _owner;

    /// <summary>The owner of the page runs rented through pools over this allocator.</summary>
    internal PageRunOwner PoolRuns => _poolRuns;

    /// <summary>Creates an allocator with its own arenas and folios.</summary>
    /// <exception cref="ArgumentException">(<c>ParamName</c> <c>options</c>; the message names the option and its
    /// value.) A <see cref="ZcopyAllocatorOptions.FolioSize"/> or <see cref="ZcopyAllocatorOptions.Alignment"/>
    /// that is not a power of two, a folio below the OS page size or above 1 GiB, an alignment above the OS page
    /// size, a <see cref="ZcopyAllocatorOptions.RetainedFoliosPerArena"/> outside 0..1024, a negative
    /// <see cref="ZcopyAllocatorOptions.TrackingSampleRate"/> or one above 1 with
    /// <see cref="ZcopyAllocatorOptions.TrackFragments"/>, or a negative
    /// <see cref="ZcopyAllocatorOptions.LeakReportAge"/> other than <see cref="Timeout.InfiniteTimeSpan"/>.</exception>
    public ZcopyAllocator(ZcopyAllocatorOptions? options = null)
        : this(options, PageSource.Os, Environment.ProcessorCount)
    {
    }

    /// <summary>
    /// Creates an allocator over a given page source with at least <paramref name="processors"/> arenas:
    /// the seam tests inject faults and force arena sharing through.
    /// </summary>
    internal ZcopyAllocator(ZcopyAllocatorOptions? options, PageSource source, int processors)
    {
        options ??= new ZcopyAllocatorOptions();
        int folioSize = options.FolioSize;
        int alignment = options.Alignment;
        if (!BitOperations.IsPow2(folioSize) || folioSize < source.PageSize || folioSize > MaxFolioSize)
        {
            throw new ArgumentException(
                $"FolioSize {folioSize} must be a power of two from the OS page size ({source.PageSize}) to {MaxFolioSize}.",
                nameof(options));
        }

        if (!BitOperations.IsPow2(alignment) || alignment > source.PageSize)
        {
            throw new ArgumentException(
                $"Alignment {alignment} must be a power of two from 1 to the OS page size ({source.PageSize}).",
                nameof(options));
        }

        int retained = options.RetainedFoliosPerArena;
        if ((uint)retained > MaxRetainedFoliosPerArena)
        {
            throw new ArgumentException(
                $"RetainedFoliosPerArena {retained} must be from 0 to {MaxRetainedFoliosPerArena}.", nameof(options));
        }

        int sampleRate = TrackingRate(options);
        int arenaCount = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, processors));
        PageMapOptions mapOptions =
            (options.PrefaultFolios ? PageMapOptions.Prefault : PageMapOptions.None) |
            (options.TransparentHugePages ? PageMapOptions.HugePages : PageMapOptions.None);
        _arenas = new Arena[arenaCount];
        _arenaMask = arenaCount - 1;
        _alignmentMask = alignment - 1;
        _tracker = sampleRate == 0 ? null : new FragmentTracker(sampleRate, options.LeakReportAge, this);
        RetainedFoliosPerArena = retained;
        FolioSize = folioSize;
        Alignment = alignment;
        MaxFragmentSize = folioSize / 2;
        _firstSliceSize = Math.Min(FirstSliceSize, MaxFragmentSize);
        _largestSliceSize = Math.Min(LargestSliceSize, FolioSize);

        // Slices need room for at least four aligned pieces: a slice's share is one ref per Alignment bytes
        // (plus its own), and an alignment as large as the slice would let its pieces outrun the share and
        // the arena's bias, so such allocators (e.g. 4 KiB folios aligned to 4 KiB) cut every piece from
        // the arena. Tracking must see every piece, so it turns the thread cache off too. Slices also add
        // up to one reference per aligned byte to a folio's count on top of its full share, which passes
        // int.MaxValue when a folio has 2^30 aligned bytes or more (1 GiB at an alignment of 1), so such
        // allocators cut every piece from the arena as well.
        bool countHasRoom = folioSize / alignment <= MaxSlicedAlignedBytes;
        _sliceCutLimit = alignment <= _firstSliceSize / 4 && countHasRoom ? Math.Min(_largestSliceSize / 4, MaxFragmentSize) : 0;
        bool threadCache = options.ThreadCache && _tracker is null && _sliceCutLimit != 0;
        _maxSlicedSize = threadCache ? _sliceCutLimit : 0;
        _owner = new FolioOwner(source, folioSize, alignment, arenaCount, retained, mapOptions)
        {
            Tracker = _tracker,
            DefersReleases = threadCache,
        };

        _poolRuns = new PageRunOwner(source);

        // Metrics: the registry reads this allocator's statistics when a listener collects (weakly held).
        Metrics.AllocatorRegistry.Register(this, options.Name);
    }

    /// <summary>The process-wide allocator with default options. Disposing it does nothing.</summary>
    public static ZcopyAllocator Shared
    {
        get
        {
            ZcopyAllocator? shared = Volatile.Read(ref s_shared);
            if (shared is null)
            {
                // Two first callers may both create one; the compare-and-swap publishes exactly one. The loser's
                // has mapped nothing and is left to the GC: disposing it would reclaim every thread's slice
                // (a process-wide barrier) for nothing. Until its registration is finalized it stays a member of
                // the "shared" series, whose figures are summed over members, so it adds zeros.
                var created = new ZcopyAllocator(new ZcopyAllocatorOptions { Name = SharedName });
                shared = Interlocked.CompareExchange(ref s_shared, created, null) ?? created;
            }

            return shared;
        }
    }

    /// <summary>Bytes per folio.</summary>
    public int FolioSize { get; }

    /// <summary>Every piece starts at a multiple of this many bytes.</summary>
    public int Alignment { get; }

    /// <summary>The largest piece: half a folio, as in the seed, so a folio always yields at least two.</summary>
    public int MaxFragmentSize { get; }

    /// <summary>Folios per arena kept mapped for reuse after their last reference goes (0: none).</summary>
    public int RetainedFoliosPerArena { get; }

    /// <summary>True when threads cut small pieces from slices of their own (see <see cref="ZcopyAllocatorOptions.ThreadCache"/>).</summary>
    public bool ThreadCache => _maxSlicedSize != 0;

    /// <summary>Largest piece a local cache cuts from its slice: a quarter of the largest slice, as for threads.</summary>
    internal int MaxCachedSize => _sliceCutLimit;

    /// <summary>Number of arenas (the processor count rounded up to a power of two).</summary>
    public int ArenaCount => _arenas.Length;

    /// <summary>One folio life in this many is tracked; 0 when tracking is off (see <see cref="ZcopyAllocatorOptions.TrackingSampleRate"/>).</summary>
    public int TrackingSampleRate => _tracker?.SampleRate ?? 0;

    /// <summary>
    /// Raised once for each tracked fragment found outstanding past <see cref="ZcopyAllocatorOptions.LeakReportAge"/>
    /// (from a timer thread), by <see cref="CheckForLeaks"/>, and for each one still outstanding at
    /// <see cref="Dispose"/>. Handlers run on the thread that found the leak and must not throw: one that does
    /// still lets every other handler hear that fragment and every other fragment of that check be reported,
    /// then its exception reaches the caller of <see cref="CheckForLeaks"/> or <see cref="Dispose"/> (after
    /// everything was given back), or, on a thread-pool thread (the periodic check, a collected allocator's
    /// report, a piece cut while Dispose runs on another thread), ends the process as any unhandled exception
    /// there does.
    /// </summary>
    public event EventHandler<FragmentLeakedEventArgs>? FragmentLeaked;

    /// <summary>Breaks a piece of <paramref name="size"/> bytes off the current processor's folio.</summary>
    /// <returns>The piece, holding one reference on its folio; release it with <see cref="NativePages.Put(in BioVec)"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not in 1..<see cref="MaxFragmentSize"/>.</exception>
    /// <exception cref="OutOfMemoryException">The OS refused a folio; nothing was kept.</exception>
    /// <exception cref="ObjectDisposedException">The allocator was disposed (a size out of range is reported
    /// first, as <see cref="ArgumentOutOfRangeException"/>).</exception>
    /// <remarks>
    /// AggressiveOptimization, here, on <see cref="NativePages.Put(in BioVec)"/> and on the thread slice's
    /// inlined cut and take-back: none of them ever runs instrumented, so no profile of theirs exists to
    /// inline from. Dynamic PGO keeps one profile per method for the whole process, taken from the first
    /// calls only, and these methods branch on the allocator's configuration: a process whose first
    /// allocations went through an allocator without the thread cache had every later caller compiled for
    /// that path, and the default pair then took 7-10 ns instead of 3.3-4.6 (docs/benchmarks.md, step 55).
    /// Inlining still happens; only the layout is the JIT's own, with the slow paths' calls placed before the
    /// return instead of after it (two jumps more on the fast path).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public BioVec Alloc(int size)
    {
        // Only the thread slice's cut is inlined into callers; everything else is one call away, so a
        // caller's frame holds no address-taken temporaries it would have to zero on entry. One compare
        // checks the size for both: _maxSlicedSize is at most MaxFragmentSize, and 0 without the thread cache.
        // The thread-static read comes first, on every path: the JIT then computes the thread's statics
        // address once for an Alloc and a Put inlined into one loop body, instead of once for each (one call
        // to the TLS resolver per pair instead of two: 5.0 -> 4.1 ns, docs/benchmarks.md step 27).
        ThreadSliceState* state = ThreadSlice.State;
        if (state != null && (uint)(size - 1) < (uint)_maxSlicedSize
            && state->TryCut(Id, size, (size + _alignmentMask) & ~_alignmentMask, out BioVec cut))
        {
            return cut;
        }

        return AllocSlow(size);
    }

    /// <summary>
    /// <see cref="Alloc"/> when the thread's slice cannot cut the piece: a size out of range, a piece too
    /// large for slices, no slice yet, or one used up or another allocator's.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private BioVec AllocSlow(int size)
    {
        if ((uint)(size - 1) >= (uint)MaxFragmentSize)
        {
            ThrowSizeOutOfRange(size);
        }

        int fullSize = (size + _alignmentMask) & ~_alignmentMask;
        return (uint)(size - 1) < (uint)_maxSlicedSize ? AllocSliced(size, fullSize) : AllocFromArena(size, fullSize);
    }

    /// <summary>Like <see cref="Alloc"/>, but answers false instead of throwing for a bad size or an OS refusal.</summary>
    /// <returns>True with the piece in <paramref name="fragment"/>; false with <c>default</c> there when
    /// <paramref name="size"/> is not in 1..<see cref="MaxFragmentSize"/> or the OS refused a folio.</returns>
    /// <exception cref="ObjectDisposedException">The allocator was disposed and <paramref name="size"/> is in range
    /// (a size out of range answers false, disposed or not).</exception>
    /// <remarks>
    /// Shaped as <see cref="Alloc"/> is, for its reasons (see its remarks): the slice's cut inlined into the
    /// caller, everything else one call away, and the piece returned by value, so the caller's variable stays
    /// in registers (written through the out parameter by the slow path's call, it lived on the stack, zeroed
    /// on entry). As a plain method TryAlloc + Put took 15-17 ns a pair at 64-256 B against Alloc's 7.1-7.6;
    /// now 8.3-9.0 (docs/benchmarks.md, step 60).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public bool TryAlloc(int size, out BioVec fragment)
    {
        fragment = TryAllocPiece(size);
        return !fragment.IsEmpty;
    }

    /// <summary>
    /// TryAlloc's piece, empty when refused: Alloc's shape, returned by value (see <see cref="TryAlloc"/>). A copy
    /// of Alloc's fast path rather than one shared with it, as MemDup keeps its own: a shared cut measured slower
    /// on Alloc's own pair (docs/benchmarks.md, step 44).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    private BioVec TryAllocPiece(int size)
    {
        ThreadSliceState* state = ThreadSlice.State;
        if (state != null && (uint)(size - 1) < (uint)_maxSlicedSize
            && state->TryCut(Id, size, (size + _alignmentMask) & ~_alignmentMask, out BioVec cut))
        {
            return cut;
        }

        return TryAllocSlow(size);
    }

    /// <summary>
    /// <see cref="TryAlloc"/> when the thread's slice cannot cut the piece: a size out of range, a piece too large
    /// for slices, no slice yet, or one used up or another allocator's. Returns an empty piece for the answer false.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private BioVec TryAllocSlow(int size)
    {
        if ((uint)(size - 1) >= (uint)MaxFragmentSize)
        {
            return default;
        }

        // Each helper's piece is empty when it answers false (its catch, or the arena's refusal, clears it), so
        // the piece alone carries the answer.
        int fullSize = (size + _alignmentMask) & ~_alignmentMask;
        BioVec piece;
        _ = (uint)(size - 1) < (uint)_maxSlicedSize
            ? TryAllocSliced(size, fullSize, out piece)
            : TryAllocFromArena(size, fullSize, out piece);
        return piece;
    }

    /// <summary>
    /// <see cref="TryAlloc"/> of a piece too large for a slice. The arena answers false when the OS refuses
    /// a folio; a folio the OS mapped but the side table cannot register is an <see cref="OutOfMemoryException"/>
    /// thrown with nothing held (the mapping is returned), which is the answer false too.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryAllocFromArena(int size, int fullSize, out BioVec fragment)
    {
        try
        {
            return EnterArena().TryAllocLocked(size, fullSize, _owner, throwOnFailure: false, out fragment);
        }
        catch (OutOfMemoryException)
        {
            fragment = default;
            return false;
        }
    }

    /// <summary>
    /// <see cref="TryAlloc"/> when the thread's slice cannot cut the piece: takes the thread a slice as
    /// <see cref="Alloc"/> does, so a thread that only calls TryAlloc cuts from a slice too (going to the arena
    /// instead, it paid the arena's lock for every piece and never got a slice). The OS's refusal, which
    /// <see cref="AllocSliced"/> throws with nothing held, is the answer false.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryAllocSliced(int size, int fullSize, out BioVec fragment)
    {
        try
        {
            fragment = AllocSliced(size, fullSize);
            return true;
        }
        catch (OutOfMemoryException)
        {
            fragment = default;
            return false;
        }
    }

    /// <summary>
    /// Allocates one piece per entry of <paramref name="sizes"/> into <paramref name="pieces"/>: small pieces
    /// from the thread's slice as <see cref="Alloc"/> does, and from the first piece too large for it on,
    /// under one arena lock for all the pieces the current folio can hold (a message's header, trailer and
    /// padding cost one lock, not three). Either every piece is allocated or none is kept.
    /// </summary>
    /// <returns>The number of pieces written: <c>sizes.Length</c>.</returns>
    /// <exception cref="ArgumentException"><paramref name="pieces"/> is shorter than <paramref name="sizes"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A size is not in 1..<see cref="MaxFragmentSize"/>; the message names its index.</exception>
    /// <exception cref="OutOfMemoryException">The OS refused a folio; the pieces already cut were released and
    /// their slots cleared.</exception>
    /// <exception cref="ObjectDisposedException">The allocator was disposed; the pieces already cut were released
    /// and their slots cleared.</exception>
    public int AllocBatch(ReadOnlySpan<int> sizes, Span<BioVec> pieces)
    {
        if (pieces.Length < sizes.Length)
        {
            ThrowTooFewSlots(pieces.Length, sizes.Length, nameof(pieces));
        }

        for (int i = 0; i < sizes.Length; i++)
        {
            if ((uint)(sizes[i] - 1) >= (uint)MaxFragmentSize)
            {
                ThrowBadBatchSize(i, sizes[i], nameof(sizes));
            }
        }

        // Small pieces come from the thread's slice, as Alloc cuts them but in one critical section for all of
        // them: no lock and no atomic operation, one thread-static read, and the pieces lie side by side, so
        // PutBatch on this thread takes them back in one step. Nothing here throws, so no exception region,
        // and the throws above and the slow path are calls of their own: inlined, their message builders and
        // the exception region made this method zero a 128-byte frame and spill its counters on every call
        // (docs/benchmarks.md, step 59).
        ThreadSliceState* state = ThreadSlice.State;
        int done = state != null && _maxSlicedSize != 0 ? state->CutRun(Id, sizes, pieces, _maxSlicedSize, _alignmentMask) : 0;
        return done == sizes.Length ? done : AllocBatchSlow(sizes, pieces, done);
    }

    /// <summary>
    /// <see cref="AllocBatch"/> from <paramref name="done"/> on, once the thread's slice could not cut the
    /// next piece: every slot is cleared and every piece given back if any allocation fails.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int AllocBatchSlow(ReadOnlySpan<int> sizes, Span<BioVec> pieces, int done)
    {
        try
        {
            // The rest as before: small pieces one at a time (the slice is used up, another allocator's, or
            // being reclaimed), then larger ones in runs under one arena lock.
            while (done < sizes.Length && (uint)(sizes[done] - 1) < (uint)_maxSlicedSize)
            {
                pieces[done] = Alloc(sizes[done]);
                done++;
            }

            while (done < sizes.Length)
            {
                done += EnterArena().CarveRunLocked(sizes[done..], _alignmentMask, _owner, pieces[done..]);
                if (done < sizes.Length)
                {
                    // The folio is full: move on, one piece at a time (from the arena, not the thread's
                    // slice, so a message's pieces stay neighbours and PutBatch releases them together).
                    int size = sizes[done];
                    pieces[done] = AllocFromArena(size, (size + _alignmentMask) & ~_alignmentMask);
                    done++;
                }
            }
        }
        catch
        {
            // The failure the caller must hear of is the one that stopped the batch, not a refused unmap met
            // while giving the pieces back (which loses nothing). Every slot of the batch is cleared, not only
            // the first `done`: a carved run gives its pieces back itself when recording them fails, before
            // `done` counts them. A released piece left in a slot looks live while its folio is, and a caller
            // cleaning up with PutBatch would release it again; an empty one is refused by name.
            try
            {
                NativePages.PutBatchToleratingRefusedUnmap(pieces[..done]);
            }
            finally
            {
                pieces[..sizes.Length].Clear();
            }

            throw;
        }

        return done;
    }

    /// <summary>AllocBatch's refusal of <paramref name="slots"/> slots for <paramref name="needed"/> pieces.</summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowTooFewSlots(int slots, int needed, string paramName) =>
        throw new ArgumentException($"{slots} slots cannot hold {needed} pieces.", paramName);

    /// <summary>AllocBatch's refusal of the size <paramref name="size"/> at <paramref name="index"/> of its sizes.</summary>
    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowBadBatchSize(int index, int size, string paramName) =>
        throw new ArgumentOutOfRangeException(
            paramName, size, $"sizes[{index}] = {size}: a piece must be 1 to {MaxFragmentSize} bytes.");

    /// <summary>
    /// A single-owner cache over this allocator that cuts and releases its own pieces with no lock and no
    /// atomic operation (see <see cref="ZcopyLocalCache"/>). Dispose it before the allocator: one never disposed
    /// keeps its slice's folio mapped, and itself referenced by the allocator, for the allocator's life.
    /// Never throws: a cache created after the allocator's Dispose is made all the same, and its first
    /// <see cref="ZcopyLocalCache.Alloc"/> throws <see cref="ObjectDisposedException"/>.
    /// </summary>
    public ZcopyLocalCache CreateLocalCache() => new(this);

    /// <summary>
    /// Registers a local cache taking its first slice, for <see cref="Dispose"/> to shut and the statistics to
    /// count; false when this allocator is disposed already.
    /// </summary>
    internal bool TryAddLocalCache(ZcopyLocalCache cache)
    {
        lock (_localCaches)
        {
            // Under the lock Dispose shuts caches with: it marks the allocator first, so a cache either
            // sees the mark here or is in the set when Dispose goes through it.
            return !_owner.IsDisposed && _localCaches.Add(cache);
        }
    }

    /// <summary>Forgets a disposed local cache.</summary>
    internal void RemoveLocalCache(ZcopyLocalCache cache)
    {
        lock (_localCaches)
        {
            _localCaches.Remove(cache);
        }
    }

    /// <summary>Allocates a piece the size of <paramref name="source"/> and copies it in.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="source"/> is empty or longer than <see cref="MaxFragmentSize"/>.</exception>
    /// <exception cref="OutOfMemoryException">The OS refused a folio; nothing was kept.</exception>
    /// <exception cref="ObjectDisposedException">The allocator was disposed (a length out of range is reported
    /// first, as <see cref="ArgumentOutOfRangeException"/>).</exception>
    public BioVec MemDup(ReadOnlySpan<byte> source)
    {
        // Alloc's inlined cut, with a slow path of MemDup's own so that a bad length is named for the
        // caller's argument: a range check ahead of the cut instead cost 2-3 ns at every size, and one cut
        // shared with Alloc, its slow path taking the name, measured up to 0.2 ns slower on Alloc's own pair
        // at 1 and 4 KiB (step 44). The copy of Alloc's condition is the price of neither.
        int size = source.Length;
        ThreadSliceState* state = ThreadSlice.State;
        BioVec piece = state != null && (uint)(size - 1) < (uint)_maxSlicedSize
            && state->TryCut(Id, size, (size + _alignmentMask) & ~_alignmentMask, out BioVec cut)
            ? cut
            : MemDupSlow(size);
        PieceCopy.Copy(source, piece.Address);
        return piece;
    }

    /// <summary>
    /// <see cref="MemDup"/>'s piece when the thread's slice cannot cut it: what <see cref="AllocSlow"/> does,
    /// with a bad length named as the source's (not through AllocSlow: one call deeper cost 1-3 ns a piece
    /// without the thread cache).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private BioVec MemDupSlow(int size)
    {
        if ((uint)(size - 1) >= (uint)MaxFragmentSize)
        {
            ThrowSourceOutOfRange(size, "source");
        }

        int fullSize = (size + _alignmentMask) & ~_alignmentMask;
        return (uint)(size - 1) < (uint)_maxSlicedSize ? AllocSliced(size, fullSize) : AllocFromArena(size, fullSize);
    }

    /// <summary>What this allocator has done so far.</summary>
    public ZcopyStatistics GetStatistics()
    {
        long fragments = 0;
        long reused = 0;
        for (int i = 0; i < _arenas.Length; i++)
        {
            fragments += _arenas[i].FragmentsAllocated;
            reused += _arenas[i].ReusedInPlace;
        }

        // Pieces cut from thread slices and local caches' slices still held: the arena counted each slice as
        // one piece. Not one snapshot: a slice given back between its read here and the owner's count
        // (FolioOwner.CachedFragments, read below) is counted twice in this reading, and one handed back to
        // its arena after the arenas were read and before its holder is, not at all; RaiseReported keeps the
        // reported count from going back (see ZcopyStatistics.FragmentsAllocated). The slice's allocator is
        // read before and after its count, and the count kept only if both are this allocator: read after it
        // only, an owner that left this allocator's slice for another's between the two reads had the other's
        // count added here (a concurrency audit saw hundreds of pieces too many). The owner empties a slice
        // (its count to 0) before it names another allocator, and names it before cutting: the empty count is
        // written before the allocator's Volatile (releasing) write, and the new slice's count after the
        // interlocked add of FolioSlice.Install, a full fence that follows that write, so a count read between
        // two Volatile reads of this allocator is this allocator's, unless the owner left and came back in
        // between (two slice changes in three loads).
        foreach (ThreadSlice slice in ThreadSliceRegistry.Snapshot)
        {
            ZcopyAllocator? before = slice.Allocator;
            int cut = slice.PiecesCut;
            if (cut > 1 && ReferenceEquals(before, this) && ReferenceEquals(slice.Allocator, this))
            {
                fragments += cut - 1;
            }
        }

        lock (_localCaches)
        {
            foreach (ZcopyLocalCache cache in _localCaches)
            {
                fragments += Math.Max(0, cache.PiecesCut - 1);
            }
        }

        // Unmapped before mapped: a folio is counted as mapped before it can be unmapped, so every unmap read
        // here has its map counted in the read after it, and LiveFolios (and the nativezcopy.folios.live and
        // nativezcopy.memory.mapped instruments) never reads below the folios mapped at the first read. The
        // other order counts a folio mapped and unmapped between the reads as unmapped only, and a churning
        // allocator then reports fewer live folios than it holds, even a negative number.
        long unmapped = _owner.FoliosUnmapped;
        long mapped = _owner.FoliosMapped;
        fragments = RaiseReported(fragments + _owner.CachedFragments);
        return new ZcopyStatistics(mapped, unmapped, reused, fragments, FolioSize)
        {
            FoliosRetained = _owner.FoliosRetained,
            FragmentsLeaked = _tracker?.LeakedCount ?? 0,
            TrackedFragmentsOutstanding = _tracker?.OutstandingCount ?? 0,
        };
    }

    /// <summary>Raises <see cref="_fragmentsReported"/> to <paramref name="fragments"/> and returns the result.</summary>
    private long RaiseReported(long fragments)
    {
        long reported = Volatile.Read(ref _fragmentsReported);
        while (fragments > reported)
        {
            long seen = Interlocked.CompareExchange(ref _fragmentsReported, fragments, reported);
            if (seen == reported)
            {
                return fragments;
            }

            reported = seen;
        }

        return reported;
    }

    /// <summary>
    /// Gives back to the OS every folio kept for reuse and every arena's unused spare and parked folio (the
    /// arena's share on a parked folio that pieces still hold is given back, so their last Put unmaps it),
    /// takes back the thread slices of this allocator (and of dead threads) so that folios only they held are
    /// unmapped, and retries any unmap the OS refused before (of a folio, or of a page run rented through a
    /// <see cref="ZcopyMemoryPool"/> over this allocator). Folios in use are untouched. Returns how many
    /// folios kept for reuse, spare or parked were unmapped.
    /// </summary>
    /// <exception cref="InvalidOperationException">A thread had deferred more releases on a folio than the folio
    /// had references (a double release somewhere), or the OS refused to unmap a folio whose last references
    /// were such deferred releases (it stays mapped and its unmap is retried by the next map, Trim and
    /// Dispose); everything else was still trimmed.</exception>
    public int Trim()
    {
        lock (_trimLock)
        {
            return TrimLocked();
        }
    }

    /// <summary><see cref="Trim"/>, under its lock.</summary>
    private int TrimLocked()
    {
        InvalidOperationException? refused = null;
        if (ThreadCache)
        {
            try
            {
                ThreadSliceRegistry.Reclaim(this);
            }
            catch (InvalidOperationException error)
            {
                refused = error; // reported once the rest is done: a Trim loses nothing to it
            }
        }

        _owner.RetryPendingUnmaps();
        _poolRuns.RetryPendingUnmaps();
        int trimmed = 0;
        for (int i = 0; i < _arenas.Length; i++)
        {
            trimmed += GiveBackArenaShare(_arenas[i].TakeSpare(), _owner.FullShare);
            trimmed += GiveBackArenaShare(_arenas[i].TakeParked(out int parkedBias), parkedBias);
        }

        trimmed += _owner.TrimRetained();
        if (refused is not null)
        {
            throw refused;
        }

        return trimmed;
    }

    /// <summary>
    /// For Trim: a folio taken out of an arena (its spare, or its parked folio) with the arena's
    /// <paramref name="share"/> on it is unmapped now if that share is all its count, else the share is given
    /// back and the folio's last Put unmaps it. Returns 1 when it was unmapped here, 0 otherwise (or for no folio).
    /// </summary>
    private int GiveBackArenaShare(long entry, int share)
    {
        if (entry == 0)
        {
            return 0;
        }

        if (_owner.TryUnmapIfOnlyHolder(entry, share, out bool unmapped))
        {
            return unmapped ? 1 : 0;
        }

        FolioOwner.ReleaseShare(entry, share);
        return 0;
    }

    /// <summary>
    /// The tracked fragments that still hold a reference, each with its allocation stack: every live
    /// fragment with <see cref="ZcopyAllocatorOptions.TrackFragments"/>, the sampled ones with
    /// <see cref="ZcopyAllocatorOptions.TrackingSampleRate"/> above 1, none with tracking off.
    /// </summary>
    public IReadOnlyList<OutstandingFragment> GetOutstandingFragments() => _tracker?.Snapshot() ?? [];

    /// <summary>
    /// Reports through <see cref="FragmentLeaked"/> every tracked fragment outstanding for at least
    /// <paramref name="olderThan"/> that was not reported before, and returns how many it reported.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="olderThan"/> is negative.</exception>
    /// <remarks>A <see cref="FragmentLeaked"/> handler's exception comes out of this call, after every report.</remarks>
    public int CheckForLeaks(TimeSpan olderThan)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(olderThan, TimeSpan.Zero);
        return _tracker?.CheckForLeaks(olderThan) ?? 0;
    }

    /// <summary>
    /// Gives back the arenas' own references (each current, spare and parked folio), the threads' slices of this
    /// allocator and every thread's deferred releases. Folios still referenced by pieces stay mapped until
    /// their last Put: releases on this allocator's folios are not deferred any more, so the last one unmaps
    /// at once whatever thread makes it. Later allocations throw <see cref="ObjectDisposedException"/>. A
    /// <see cref="Trim"/> running on another thread is waited for, so what it took is unmapped when this returns;
    /// a later Trim finds nothing left to give back. A tracking allocator reports every tracked fragment still outstanding through
    /// <see cref="FragmentLeaked"/>. Never throws for a folio the OS refused to unmap: the folio is kept and
    /// the unmap retried, and calling Dispose again retries it once more (and so for the page runs of pools
    /// over this allocator). Does nothing on <see cref="Shared"/>. An allocator dropped without Dispose does
    /// the same from its finalizer once the GC collects it. A <see cref="FragmentLeaked"/> handler's exception
    /// comes out of this call, after everything was given back and every report made.
    /// </summary>
    public void Dispose()
    {
        if (ReferenceEquals(this, Volatile.Read(ref s_shared)))
        {
            return;
        }

        GC.SuppressFinalize(this);
        GiveBackEverything(collected: false);
    }

    /// <summary>
    /// The safety net for an allocator dropped without <see cref="Dispose"/>: what Dispose gives back, given back
    /// when the allocator is collected, so folios are not held for the life of the process by shares nothing
    /// can reach any more (a new user's program leaked a folio per allocator this way). Safe on the finalizer
    /// thread as a Dispose racing other threads is: a thread with a slice or local cache of the allocator holds
    /// it, so none can cut from it; the JIT may end a call's hold on it inside the arena (after the arena's
    /// last use of the allocator), but the arena checks the owner's disposed mark under its lock and gives a
    /// folio it mapped meanwhile back, as it does for Dispose; pieces still held and releases other threads
    /// deferred are theirs, as after Dispose, except that those deferred releases are not reclaimed here (see
    /// <see cref="GiveBackEverything"/>).
    /// </summary>
    ~ZcopyAllocator()
    {
        // A constructor that threw (bad options, or out of memory part-way) leaves an object to finalize
        // without its owners; it never cut anything.
        if (_owner is not null && _poolRuns is not null)
        {
            GiveBackEverything(collected: true);
        }
    }

    /// <summary>
    /// <see cref="Dispose"/>'s work. <paramref name="collected"/>: called by the finalizer, so the local caches
    /// left in the set are unreachable too, and their slices are given back here, which Dispose leaves to their
    /// owners.
    /// </summary>
    private void GiveBackEverything(bool collected)
    {
        if (!_owner.MarkDisposed())
        {
            _owner.RetryPendingUnmaps(); // reliability hook: a further Dispose retries refused unmaps
            _poolRuns.RetryPendingUnmaps();
            return;
        }

        lock (_trimLock)
        {
            GiveBackFolios(collected);
        }

        if (collected && _tracker is not null)
        {
            // The final report raises FragmentLeaked, whose handlers are the application's: on the finalizer
            // thread a throwing one would end the process and a slow one (formatting 50,000 stack traces took
            // 0.9 s in a review) would hold up every finalizer. The work item holds the allocator, so the
            // reports still find it through the tracker's weak reference.
            ThreadPool.UnsafeQueueUserWorkItem(static allocator => allocator._tracker!.Dispose(), this, preferLocal: false);
        }
        else
        {
            _tracker?.Dispose();
        }
    }

    /// <summary>
    /// <see cref="GiveBackEverything"/>'s give-back of slices, arenas' folios, retained folios and refused
    /// unmaps, under <see cref="_trimLock"/>.
    /// </summary>
    private void GiveBackFolios(bool collected)
    {
        // Local caches stop cutting from the slices they hold; each gives its slice back at its next Alloc
        // or its Dispose (a slice is its owner's alone to touch), or now if nothing can reach it any more.
        ZcopyLocalCache[] abandoned;
        lock (_localCaches)
        {
            foreach (ZcopyLocalCache cache in _localCaches)
            {
                cache.Shut();
            }

            abandoned = collected ? [.. _localCaches] : [];
            _localCaches.Clear();
        }

        foreach (ZcopyLocalCache cache in abandoned)
        {
            cache.GiveBackUnreachable();
        }

        // Slices first: a thread that installs one after this sees the allocator disposed and gives it back.
        // Not when collected: no slice holds an unreachable allocator (a slice keeps its allocator), and the
        // reclaim would revoke every thread's slice and drop every thread's deferred releases, from the
        // finalizer thread at any moment. A thread's deferred releases on these folios are dropped at its
        // next release of another life or its next arena visit, as an idle thread's are.
        if (ThreadCache && !collected)
        {
            try
            {
                ThreadSliceRegistry.Reclaim(this);
            }
            catch (InvalidOperationException)
            {
                // A deferred release refused by a folio with fewer references (a double release somewhere):
                // Dispose does not throw for it (Trim does); everything else was given back.
            }
        }

        for (int i = 0; i < _arenas.Length; i++)
        {
            _arenas[i].Drain(_owner);
        }

        // Retained folios go back now; folios whose unmap the OS refused get one more try; a tracking
        // allocator reports what is still outstanding (it frees none of it: those folios go at their last Put).
        _owner.TrimRetained();
        _owner.RetryPendingUnmaps();
        _poolRuns.RetryPendingUnmaps();
    }

    /// <summary>Checks the diagnostics options and returns the effective sample rate (0 = off).</summary>
    private static int TrackingRate(ZcopyAllocatorOptions options)
    {
        int rate = options.TrackingSampleRate;
        if (rate < 0 || (options.TrackFragments && rate > 1))
        {
            throw new ArgumentException(
                $"TrackingSampleRate {rate} must be 0 (off), 1 (every fragment) or N > 1 (one folio life in N), and 0 or 1 with TrackFragments.",
                nameof(options));
        }

        TimeSpan age = options.LeakReportAge;
        if (age < TimeSpan.Zero && age != System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentException($"LeakReportAge {age} must be zero or more, or Timeout.InfiniteTimeSpan.", nameof(options));
        }

        return options.TrackFragments ? 1 : rate;
    }

    /// <summary>
    /// Raises <see cref="FragmentLeaked"/>; the tracker's report target. Every handler hears the report even if
    /// one before it throws (a handler is often a log sink, and a broken one must not silence the others);
    /// the first failure is thrown after the last handler.
    /// </summary>
    internal void OnFragmentLeaked(OutstandingFragment fragment)
    {
        EventHandler<FragmentLeakedEventArgs>? handlers = FragmentLeaked;
        if (handlers is null)
        {
            return;
        }

        var report = new FragmentLeakedEventArgs(fragment);
        ExceptionDispatchInfo? failure = null;
        foreach (EventHandler<FragmentLeakedEventArgs> handler in Delegate.EnumerateInvocationList(handlers))
        {
            try
            {
                handler(this, report);
            }
            catch (Exception error)
            {
                failure ??= ExceptionDispatchInfo.Capture(error);
            }
        }

        failure?.Throw();
    }

    /// <summary>
    /// A slice for a thread or a local cache: one piece of the arena's current folio, <paramref name="size"/>
    /// bytes or, when less than that but at least a first slice (and <paramref name="fullSize"/>, the first
    /// piece to be cut from it) is left, the folio's tail (see <see cref="Arena.AllocSliceLocked"/>).
    /// </summary>
    /// <remarks>
    /// <paramref name="held"/> is the caller's old slice of this allocator, detached, or empty. If it is of the
    /// arena's current folio, as a busy thread's is, the arena takes its share and its pieces' count back under
    /// its lock with plain adds; otherwise it is given back here, after the lock, since that may unmap. Either
    /// way nothing is held on return or on a throw. That saves two of the five locked instructions a slice
    /// change cost (docs/benchmarks.md, step 41).
    /// </remarks>
    internal BioVec AllocSlice(int size, int fullSize, ref FolioSlice held)
    {
        // The slice must hold its first piece whatever the caller asked: both sizes at least fullSize.
        bool tookOld = false;
        try
        {
            int minimum = Math.Max(Math.Min(size, _firstSliceSize), fullSize);
            return EnterArena().AllocSliceLocked(
                minimum, Math.Max(size, fullSize), _owner, held.Entry, held.Share, held.Cut, out tookOld);
        }
        finally
        {
            if (!tookOld)
            {
                held.GiveBack(_owner);
            }

            held = default;
        }
    }

    /// <summary>
    /// A slice for a local cache, which is busy by design: the largest size at once, and at least
    /// <paramref name="fullSize"/>, the first piece the cache cuts from it.
    /// </summary>
    internal BioVec AllocLargestSlice(int fullSize, ref FolioSlice held) => AllocSlice(_largestSliceSize, fullSize, ref held);

    /// <summary>Breaks a piece off the calling thread's arena's folio.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private BioVec AllocFromArena(int size, int fullSize)
    {
        EnterArena().TryAllocLocked(size, fullSize, _owner, throwOnFailure: true, out BioVec piece);
        return piece;
    }

    /// <summary>
    /// The thread's slice is another allocator's, or used up, or the thread has none yet: give the old one
    /// back and take a fresh slice from the arena (see <see cref="ThreadSlice"/>), or use the arena directly
    /// when the slice is another allocator's or a reclaimer is at work.
    /// </summary>
    private BioVec AllocSliced(int size, int fullSize)
    {
        ThreadSlice slice = ThreadSlice.ForCurrentThread();
        if (slice.Allocator is { } holder && !ReferenceEquals(holder, this) && !slice.CountMiss())
        {
            return AllocFromArena(size, fullSize);
        }

        if (!slice.TryDetach(out ZcopyAllocator? previous, out FolioSlice held))
        {
            return AllocFromArena(size, fullSize);
        }

        // A thread that used up a slice of ours gets one twice as large, up to the largest; after a Trim took
        // its slice, or after another allocator's, it starts small again (see FirstSliceSize).
        int sliceSize = ReferenceEquals(previous, this) && held.Entry != 0
            ? Math.Clamp(2 * slice.InstalledBytes, _firstSliceSize, _largestSliceSize)
            : _firstSliceSize;

        // Room for four pieces of this size (pieces up to a quarter of the largest slice are cut from slices), so
        // a large piece does not end its slice at once; AllocSlice also never gives a slice shorter than the piece.
        sliceSize = Math.Max(sliceSize, Math.Min(4 * fullSize, _largestSliceSize));
        if (!ReferenceEquals(previous, this))
        {
            ThreadSlice.GiveBack(previous, held);
            held = default;
        }

        BioVec whole = AllocSlice(sliceSize, fullSize, ref held); // throws with nothing held
        if (!slice.TryInstall(this, whole, size, fullSize, out BioVec piece))
        {
            _owner.CountCachedFragments(-1); // the arena counted the slice, which no user saw

            // The slice's one ref, given back as an arena gives back its share: if it was the folio's last (a
            // Dispose drained the arena meanwhile) and the OS refuses the unmap, that is not this Alloc's failure.
            FolioOwner.ReleaseShare(whole.Entry, 1);
            return AllocFromArena(size, fullSize);
        }

        // Dispose takes slices back after marking the allocator disposed, so either it saw this slice or
        // we see the mark here (the process-wide barrier it passes orders our install before our read). If a
        // reclaimer for another allocator refuses the detach, it takes the slice itself (a disposed allocator's).
        if (_owner.IsDisposed && slice.TryDetach(out previous, out held))
        {
            ThreadSlice.GiveBack(previous, held);
        }

        return piece;
    }

    /// <summary>
    /// The calling thread's arena, locked: the one of its processor, shifted by the thread's
    /// <see cref="t_arenaShift"/>. The lock is almost always free; see <see cref="EnterAnotherArena"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Arena EnterArena()
    {
        // The arena's folio may be one this thread has deferred releases on, every piece of it back: drop
        // them before the arena looks at its count, so it reissues the folio in place instead of mapping
        // another (see DeferredRelease). Outside the lock, since the drop may unmap.
        if (_maxSlicedSize != 0)
        {
            ThreadSlice.DropDeferredOfCurrentThread();
        }

        ref Arena arena = ref _arenas[(Thread.GetCurrentProcessorId() + t_arenaShift) & _arenaMask];
        if (!arena.TryEnter())
        {
            return ref EnterAnotherArena();
        }

        return ref arena;
    }

    /// <summary>
    /// Our arena's lock was busy: another thread is using it now. .NET caches the processor id a thread
    /// reads and refreshes it only now and then, so after a migration two threads running on different
    /// processors can keep choosing the same arena (measured: 2.9 times the one-thread cost per pair when
    /// two threads collide). Instead of waiting, move this thread to the next arena whose lock is free and
    /// stay there (<see cref="t_arenaShift"/>) until it meets contention again. Only when every arena is
    /// busy, wait for the first.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ref Arena EnterAnotherArena()
    {
        int home = Thread.GetCurrentProcessorId();
        for (int step = 1; step <= _arenaMask; step++)
        {
            int shift = t_arenaShift + step;
            ref Arena candidate = ref _arenas[(home + shift) & _arenaMask];
            if (candidate.TryEnter())
            {
                t_arenaShift = shift;
                return ref candidate;
            }
        }

        ref Arena arena = ref _arenas[(home + t_arenaShift) & _arenaMask];
        arena.Enter();
        return ref arena;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowSourceOutOfRange(int length, string paramName) =>
        throw new ArgumentOutOfRangeException(paramName, length, $"A source of {length} bytes cannot be copied into one piece: a piece must be 1 to {MaxFragmentSize} bytes (half the {FolioSize}-byte folio).");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowSizeOutOfRange(int size) =>
        throw new ArgumentOutOfRangeException(nameof(size), size, $"A piece must be 1 to {MaxFragmentSize} bytes (half the {FolioSize}-byte folio).");
}
