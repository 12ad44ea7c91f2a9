using System;
using System.Runtime.CompilerServices;
using System.Threading;
using NativeZcopy.Arenas;
using NativeZcopy.Diagnostics;
using NativeZcopy.Native;
using NativeZcopy.SideTable;
using NativeZcopy.ThreadCache;

namespace NativeZcopy;

/// <summary>
/// The process-wide page layer: runs of OS pages, each with a reference count kept in a side table keyed by
/// page address. Any address inside a live run finds its count in O(1) without a lock; the run is unmapped
/// when its count reaches zero.
/// </summary>
/// <remarks>
/// The same counts govern the folios a <see cref="ZcopyAllocator"/> breaks pieces off, so a gather list may
/// mix allocator pieces and page runs and release them all the same way.
/// </remarks>
public static unsafe class NativePages
{
    /// <summary>
    /// Largest piece whose release starts a deferral (see <see cref="DeferredRelease"/>): 2 KiB. For larger
    /// pieces the compare-and-swap saved is small beside filling the piece, and releasing them at once lets
    /// the arena reissue or retire their folio sooner: with the bound at 16 KiB, the slices' limit, 4 KiB pieces
    /// released on another thread cost 2.2x-2.6x as much under the default policy and 7-16% more with
    /// retention, and 4 KiB batches gained nothing (docs/benchmarks.md, step 48). A larger piece released on
    /// its own thread's slice is taken back into it, which needs no deferral.
    /// </summary>
    private const int MaxDeferredLength = 2048;

    /// <summary>Runs mapped by <see cref="Alloc(int)"/> are unmapped straight back to the OS.</summary>
    private static readonly PageRunOwner s_osOwner = new(PageSource.Os);

    /// <summary><see cref="AddRef"/> as the delegate the fragment tracker's slow path calls back.</summary>
    private static readonly Action<long, nint> s_addRef = AddRef;

    /// <summary>The page-reference step tracked Gets hand the tracker, for tests that race it.</summary>
    internal static Action<long, nint> AddRefForTests => s_addRef;

    /// <summary>The owner of runs from <see cref="Alloc(int)"/>, for the metrics.</summary>
    internal static PageRunOwner OsOwner => s_osOwner;

    /// <summary>Size in bytes of one OS page; runs are whole numbers of them.</summary>
    public static int OsPageSize { get; } = PageSource.Os.PageSize;

    /// <summary>Number of runs (folios and page runs) currently mapped and tracked, across all allocators.</summary>
    public static int LiveRuns => PageSideTable.LiveRuns;

    /// <summary>
    /// Bytes of those runs, as mapped (whole pages): everything NativeZcopy holds from the OS in this process,
    /// folios kept for reuse and runs whose unmap the OS refused included, and folios of allocators already
    /// collected that pieces still hold, which no allocator's statistics count any more.
    /// </summary>
    public static long BytesMapped => PageSideTable.BytesMapped;

    /// <summary>
    /// Maps a fresh run of whole OS pages, at least <paramref name="size"/> bytes, with a count of one.
    /// The piece returned covers the first <paramref name="size"/> bytes.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is not positive.</exception>
    /// <exception cref="OutOfMemoryException">The OS refused the mapping; nothing was kept.</exception>
    public static BioVec Alloc(int size) => Alloc(size, s_osOwner);

    /// <summary><see cref="Alloc(int)"/> from a given owner's page source (the seam tests inject faults through).</summary>
    internal static BioVec Alloc(int size, PageRunOwner owner)
    {
        if (size <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "A page run must be at least one byte.");
        }

        PageSource source = owner.Source;
        nuint length = ((nuint)(uint)size + (nuint)(source.PageSize - 1)) & ~(nuint)(source.PageSize - 1);
        long entry = MapAndRegister(source, length, 1, owner, size);
        return new BioVec(PageSideTable.Run(entry).Base, 0, size, entry);
    }

    /// <summary>Takes one more reference on the run that holds <paramref name="address"/>.</summary>
    /// <exception cref="InvalidOperationException">No live run holds the address, or its count is already zero
    /// (a folio kept for reuse, or one whose unmap the OS refused), or the run already holds the most references
    /// a page can count, or (with fragment tracking) no live tracked fragment holds the address; the message
    /// names the address.</exception>
    public static void Get(nint address)
    {
        long entry = PageSideTable.Find(address);
        if (entry == 0)
        {
            throw NotNative(address);
        }

        GetChecked(entry, address);
    }

    /// <summary>Takes one more reference on the run that holds <paramref name="piece"/>.</summary>
    /// <exception cref="InvalidOperationException">The piece is empty (<c>default(BioVec)</c>), or its run was
    /// already released, or the run already holds the most references a page can count, or (with fragment
    /// tracking) the piece itself was released, or it has no bytes and lies where two live fragments meet; the
    /// message names the piece or its address.</exception>
    public static void Get(in BioVec piece)
    {
        long entry = EntryOf(piece);
        GetChecked(entry, TrackedAddressOf(piece, entry));
    }

    /// <summary>
    /// Drops one reference on the run that holds <paramref name="address"/>; the last one unmaps the run.
    /// </summary>
    /// <exception cref="InvalidOperationException">No live run holds the address, or its count is already zero,
    /// or (with fragment tracking) the tracked fragment holding it was already released; or the release was the
    /// run's last and the OS refused to unmap it (the reference is dropped all the same, and the run kept and its
    /// unmap retried). The message names the address.</exception>
    public static void Put(nint address)
    {
        long entry = PageSideTable.Find(address);
        if (entry == 0)
        {
            throw NotNative(address);
        }

        // The length is unknown here, so only a run of deferred releases on this life is extended, and its
        // final release still unmaps at once; anything else is released now. A reclaimer may take the deferral
        // after the read of its count: Defer then starts one on the same life, still an untracked life of a
        // thread-cache allocator, kept alive by the caller's reference.
        if (ThreadSlice.Current is { } slice && slice.DeferredRefsOn(entry) > 0)
        {
            slice.Defer(entry, PageSideTable.Run(entry).Base, 1);
            return;
        }

        PutChecked(entry, address);
    }

    /// <summary>
    /// Drops the reference <paramref name="piece"/> holds; the last one on its page unmaps the page.
    /// Also refuses a piece whose page was since released, even if the OS has reused the address.
    /// </summary>
    /// <exception cref="InvalidOperationException">The piece is empty or its page was already released, or
    /// (with fragment tracking) the piece itself was, even while its folio has other references, or it has no
    /// bytes and lies where two live fragments meet; or the release was the page's last and the OS refused to
    /// unmap it (the reference is dropped all the same, and the page kept and its unmap retried). The message
    /// names the piece or its address.</exception>
    // AggressiveOptimization: no profile of one process-wide use shapes every caller (see ZcopyAllocator.Alloc).
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Put(in BioVec piece)
    {
        // Only a piece of the calling thread's own slice is taken back inline (no atomic operation); every
        // other case is one out-of-line call that takes the piece by value and returns nothing. So no field
        // of the piece is live across a call in the caller: a loop of Alloc and Put then needs two fewer
        // callee-saved registers, which is what lets the JIT keep the thread's statics address in one
        // across the loop instead of calling the TLS resolver each time (docs/benchmarks.md, step 29).
        ThreadSliceState* state = ThreadSlice.State;
        if (state == null || !state->TryTakeBack(piece, 1))
        {
            PutNotTakenBack(piece, state);
        }
    }

    /// <summary>
    /// Drops the reference each piece holds. Neighbouring pieces of the same page life (a message's
    /// pieces cut in order) cost one atomic operation together, not one each. Every valid piece is released
    /// even when some are not; then the first failure is thrown, a bad piece ahead of a refused unmap.
    /// </summary>
    /// <exception cref="InvalidOperationException">A piece is empty, or its page was already released or
    /// holds fewer references than the pieces claim (a piece listed twice: every reference the page held is
    /// dropped, as putting the pieces one at a time would, then the excess is reported), or (with fragment
    /// tracking) a piece itself was already released or has no bytes and lies where two live fragments meet;
    /// the message names it. Or, with no such misuse in the batch, a release was a page's last and the OS
    /// refused to unmap it (every reference was dropped; the page is kept and its unmap retried).</exception>
    public static void PutBatch(ReadOnlySpan<BioVec> pieces)
    {
        // A message's pieces the calling thread cut from its own slice go back in one critical section, with
        // one thread-static read and no exception region: the common case of a sender releasing its headers.
        ThreadSliceState* state = ThreadSlice.State;
        int start = state != null ? state->TakeBackRun(pieces) : 0;
        if (start < pieces.Length)
        {
            PutBatchSlow(pieces, start, ThreadSlice.Current);
        }
    }

    /// <summary>
    /// <see cref="Put(in BioVec)"/> for a caller that must not fail for a refused unmap: when the release is
    /// a page's last and the OS refuses the unmap, the reference is dropped all the same and the page kept and
    /// its unmap retried (see <see cref="PageRunOwner"/>), so nothing is lost. A dispose that threw would stop
    /// a caller disposing several owners in a row (a <c>Pipe</c> returning its segments), and a path giving
    /// pieces back after a failure would trade that failure for this one. A bad piece still throws.
    /// </summary>
    internal static void PutToleratingRefusedUnmap(in BioVec piece)
    {
        try
        {
            Put(piece);
        }
        catch (InvalidOperationException error) when (PageRunOwner.IsUnmapRefusal(error))
        {
            // The page is on its owner's pending-unmap list; its next map, Trim or Dispose retries it.
        }
    }

    /// <summary>
    /// <see cref="PutBatch"/> for a caller that must not fail for a refused unmap (see
    /// <see cref="PutToleratingRefusedUnmap"/>). PutBatch reports a bad piece ahead of a refusal, so a refusal
    /// caught here is the batch's only failure.
    /// </summary>
    internal static void PutBatchToleratingRefusedUnmap(ReadOnlySpan<BioVec> pieces)
    {
        try
        {
            PutBatch(pieces);
        }
        catch (InvalidOperationException error) when (PageRunOwner.IsUnmapRefusal(error))
        {
            // Every reference was dropped; the refused run is on its owner's pending-unmap list.
        }
    }

    /// <summary>
    /// <see cref="PutBatch"/> from <paramref name="start"/> on: each run of neighbouring pieces of one page
    /// life is taken back or deferred by the thread's <paramref name="slice"/>, or checked and dropped in one
    /// atomic operation; every valid piece is released, then the first failure is thrown.
    /// </summary>
    private static void PutBatchSlow(ReadOnlySpan<BioVec> pieces, int start, ThreadSlice? slice)
    {
        Exception? first = null;
        while (start < pieces.Length)
        {
            BioVec head = pieces[start];
            int end = start + 1;
            while (end < pieces.Length && pieces[end].SharesLifeWith(head))
            {
                end++;
            }

            try
            {
                if (slice is not null && slice.TryRelease(head, end - start))
                {
                    start = end;
                    continue;
                }

                // A run is deferred or not as its first piece is: a header and the large body cut after it from
                // one slice are deferred together, where the body alone would be released at once.
                long entry = EntryOf(head);
                if (DefersReleases(entry, head.Length))
                {
                    (slice ??= ThreadSlice.ForCurrentThread()).Defer(entry, head.Page, end - start);
                }
                else if (PageSideTable.IsTracked(entry))
                {
                    // Diagnostics: each tracked fragment is checked and released on its own.
                    for (int i = start; i < end; i++)
                    {
                        try
                        {
                            PutChecked(entry, TrackedAddressOf(pieces[i], entry));
                        }
                        catch (InvalidOperationException error)
                        {
                            first = FailureToReport(first, error);
                        }
                    }
                }
                else
                {
                    // A run naming more references than the life holds (a piece listed twice) drops what the
                    // life holds, as the same pieces put one at a time would, then reports the excess: refused
                    // whole, the one reference really held would stay counted with no holder left to drop it,
                    // and the page would stay mapped past its allocator's Dispose.
                    Release(entry, head.Address, end - start, dropWhatIsLeft: true);
                }
            }
            catch (InvalidOperationException error)
            {
                first = FailureToReport(first, error);
            }

            start = end;
        }

        if (first is not null)
        {
            throw first;
        }
    }

    /// <summary>
    /// The failure a batch reports: its first misuse (an empty, stale or over-released piece) ahead of any
    /// refused unmap met before it, since a refusal lost nothing (the run is kept and retried) and a caller
    /// that lets refusals go (a send's completion, a dispose) must still hear of the misuse.
    /// </summary>
    private static Exception FailureToReport(Exception? first, Exception error) =>
        first is null || (PageRunOwner.IsUnmapRefusal(first) && !PageRunOwner.IsUnmapRefusal(error)) ? error : first;

    /// <summary>
    /// <see cref="Put(in BioVec)"/> for a piece not of the calling thread's slice: added to the references the
    /// thread defers on the piece's life if it is that life (one call, no atomic operation: a completion
    /// thread releasing a message's pieces), else checked against the side table in <see cref="PutSlow"/>.
    /// The piece comes by value: by reference, every caller would keep it in memory, and its frame would
    /// zero that memory on entry.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void PutNotTakenBack(BioVec piece, ThreadSliceState* state)
    {
        if (state == null || !state->TryDefer(piece, 1))
        {
            PutSlow(piece, 1);
        }
    }

    /// <summary>
    /// <see cref="Put(in BioVec)"/> for a piece neither of the thread's slice nor of the life it defers
    /// releases on: checked against the side table, then deferred if its folio's allocator has the thread
    /// cache (see <see cref="DeferredRelease"/>), else dropped at once.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void PutSlow(BioVec piece, int refs)
    {
        long entry = EntryOf(piece);
        if (DefersReleases(entry, piece.Length))
        {
            ThreadSlice.ForCurrentThread().Defer(entry, piece.Page, refs);
        }
        else
        {
            PutChecked(entry, TrackedAddressOf(piece, entry));
        }
    }

    /// <summary>
    /// For callers that take over a live piece's reference without a page operation (a message's Add, a memory
    /// owner): refuses a zero-length tracked piece where two live fragments meet, whose reference could never be
    /// given back (a review found both accepting one, then throwing on Dispose with both records kept).
    /// </summary>
    /// <exception cref="InvalidOperationException">The piece names no single fragment.</exception>
    internal static void ThrowIfNoSingleFragment(in BioVec piece)
    {
        if (piece.Length == 0)
        {
            _ = TrackedAddressOf(piece, EntryOf(piece));
        }
    }

    /// <summary>
    /// The address tracking finds <paramref name="piece"/>'s fragment by: its first byte, except for a
    /// zero-length piece of a tracked life, which has no byte of its own and names the fragment its address or
    /// the byte before it lies in (<see cref="FragmentTracker.TryAddressOfEmpty"/>). Untracked, the page's count
    /// is all there is, and any address of the piece will do.
    /// </summary>
    /// <exception cref="InvalidOperationException">A zero-length tracked piece where two live fragments meet.</exception>
    internal static nint TrackedAddressOf(in BioVec piece, long entry)
    {
        if (piece.Length != 0 || !PageSideTable.IsTracked(entry))
        {
            return piece.Address;
        }

        if (!FragmentTracker.TryAddressOfEmpty(entry, piece, out nint address))
        {
            throw new InvalidOperationException(
                $"{piece} has no bytes and lies where two live tracked fragments meet, so which one it names cannot " +
                "be told (a slice at one's end and at the next one's start are the same value): release or " +
                "duplicate the piece it was sliced from.");
        }

        return address;
    }

    /// <summary>
    /// True when the release of a piece of <paramref name="length"/> bytes on <paramref name="entry"/> may
    /// start a deferral: a small piece (<see cref="MaxDeferredLength"/>) of an untracked life (tracking must
    /// see each release) of a folio whose allocator has the thread cache on. Page runs of
    /// <see cref="Alloc(int)"/> and folios of allocators without it are released at once, so their counts
    /// read exactly after each Put.
    /// </summary>
    private static bool DefersReleases(long entry, int length) =>
        length <= MaxDeferredLength
        && !PageSideTable.IsTracked(entry)
        && PageSideTable.Run(entry).Owner is FolioOwner { DefersReleases: true };

    /// <summary>
    /// Drops <paramref name="refs"/> deferred references on a life (<see cref="DeferredRelease.Drop"/>). If the
    /// life holds fewer (a piece was released twice while deferred), every reference it still holds is
    /// dropped, as the releases would have done one at a time, and then the excess is reported: the page is
    /// not kept mapped by references nobody holds.
    /// </summary>
    /// <exception cref="InvalidOperationException">More references were released than the life held; it was
    /// released all the same. Or the OS refused the final unmap, as from a final Put (the owner keeps the run
    /// and retries the unmap).</exception>
    internal static void ReleaseDeferred(long entry, nint page, int refs) => Release(entry, page, refs, dropWhatIsLeft: true);

    /// <summary>True when <paramref name="address"/> lies inside a live run of this layer.</summary>
    public static bool IsNativePage(nint address) => RefCount(address) > 0;

    /// <summary>
    /// True when <paramref name="piece"/> still names the page life it was cut from: false once that page was
    /// released (unmapped, kept for reuse, or reissued under a new generation, even at the same address), or,
    /// on the calling thread, once only releases it deferred hold the page; and, on a tracked folio life (every
    /// one with <see cref="ZcopyAllocatorOptions.TrackFragments"/>, the sampled ones with
    /// <see cref="ZcopyAllocatorOptions.TrackingSampleRate"/>), once the piece itself was released (a zero-length
    /// piece where two live fragments meet, which names neither for sure, by its page life alone). Otherwise a
    /// piece released while other references keep its page alive reads as live: the page count alone cannot
    /// tell its holders apart. For a check at a trust boundary (a message handed over by another
    /// component); it proves nothing about references the caller does not hold.
    /// </summary>
    public static bool IsLive(in BioVec piece) => IsLive(piece, out _);

    /// <summary>
    /// <see cref="IsLive(in BioVec)"/>, saying whether the piece's life is tracked: an untracked life's answer
    /// holds for every piece of it, a tracked one's for this piece only.
    /// </summary>
    internal static bool IsLive(in BioVec piece, out bool tracked)
    {
        tracked = false;
        if (!IsCurrent(piece, out long entry, out int count))
        {
            return false;
        }

        // References the calling thread released and has not dropped yet are released as far as it can tell,
        // as RefCount counts them: a life they alone hold is over for this thread (see DeferredRelease). The
        // count was read first, as RefCount reads it: a Trim or Dispose on another thread clears a deferral
        // before it drops it (an interlocked operation), so a count that already shows the drop is followed
        // here by a read of the cleared deferral, and a count that does not still holds the caller's piece
        // beside the deferred references. The other order could read the deferral, then a count it had left.
        if (ThreadSlice.Current is { } slice && slice.DeferredRefsOn(entry & ~PageSideTable.TrackedBit) is > 0 and int deferred
            && count <= deferred)
        {
            return false;
        }

        // A zero-length piece where two live fragments meet names neither for sure (see TrackedAddressOf): its page
        // life is all that can be told of it, as without tracking.
        tracked = PageSideTable.IsTracked(entry);
        if (!tracked)
        {
            return true;
        }

        nint address = piece.Address;
        return (piece.Length == 0 && !FragmentTracker.TryAddressOfEmpty(entry, piece, out address))
            || FragmentTracker.Holds(entry, address);
    }

    /// <summary>
    /// The reference count of the run holding <paramref name="address"/>; 0 when none does. For a folio an
    /// allocator is still breaking pieces off, the count includes the allocator's unspent share, and the
    /// shares of threads cutting pieces from it; references other threads released but have not dropped
    /// yet are counted too, the calling thread's are not (see <see cref="ZcopyAllocatorOptions.ThreadCache"/>).
    /// </summary>
    public static int RefCount(nint address)
    {
        long entry = PageSideTable.Find(address);
        if (entry == 0)
        {
            return 0;
        }

        // Releases the calling thread deferred are released as far as it can tell (see DeferredRelease).
        long state = Volatile.Read(ref PageSideTable.Run(entry).State);
        int deferred = ThreadSlice.Current?.DeferredRefsOn(entry & ~PageSideTable.TrackedBit) ?? 0;
        return PageSideTable.GenerationOfState(state) == PageSideTable.GenerationOf(entry)
            ? Math.Max(0, PageSideTable.CountOfState(state) - deferred)
            : 0;
    }

    /// <summary>
    /// Maps <paramref name="length"/> bytes from <paramref name="source"/> and registers them with
    /// <paramref name="count"/> refs (<paramref name="requested"/>, the caller's size, is for the error
    /// message). On any failure the mapping is returned and nothing stays registered.
    /// </summary>
    /// <exception cref="OutOfMemoryException">The OS refused, or the side table could not take the run.</exception>
    internal static long MapAndRegister(PageSource source, nuint length, int count, PageRunOwner owner, int requested)
    {
        owner.RetryPendingUnmaps(); // reliability hook: runs whose unmap the OS refused get another chance first
        nint address = source.TryMap(length, out int error);
        if (address == 0)
        {
            // The caller's size first: the mapped length is it rounded up to whole pages.
            throw new OutOfMemoryException(
                $"The OS refused to map {length} bytes for {requested} requested: {source.DescribeMapError(error)}.");
        }

        try
        {
            return PageSideTable.Register(address, length, count, owner);
        }
        catch
        {
            source.TryUnmap(address, length, out _);
            throw;
        }
    }

    /// <summary>
    /// Diagnostics hook: +1, through the fragment tracker first when the run is a tracked folio life
    /// (see <see cref="FragmentTracker"/> for what extra refs on a tracked fragment mean).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GetChecked(long entry, nint address)
    {
        if (PageSideTable.IsTracked(entry))
        {
            FragmentTracker.Get(entry, address, s_addRef);
            return;
        }

        AddRef(entry, address);
    }

    /// <summary>
    /// Diagnostics hook: -1, after the fragment tracker has refused a double release of a tracked
    /// fragment or dropped the fragment's ref.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PutChecked(long entry, nint address)
    {
        if (PageSideTable.IsTracked(entry))
        {
            FragmentTracker.Release(entry, address);
        }

        Release(entry, address, 1);
    }

    /// <summary>
    /// True when the piece names a live page life: the checks <see cref="Put(in BioVec)"/> makes. The entry
    /// alone is not enough: a dead folio kept for reuse, or waiting for a refused unmap to be retried, keeps
    /// its entry in the table with a count of zero until it is reissued or unmapped.
    /// </summary>
    internal static bool IsCurrent(in BioVec piece) => IsCurrent(piece, out _, out _);

    /// <summary>
    /// <see cref="IsCurrent(in BioVec)"/>, with the side-table entry it found (0 when none) and the count it
    /// read.
    /// </summary>
    private static bool IsCurrent(in BioVec piece, out long entry, out int count)
    {
        count = 0;
        entry = PageSideTable.Find(piece.Page);
        if (piece.IsEmpty || entry == 0 || (entry & ~PageSideTable.TrackedBit) != piece.Entry)
        {
            return false;
        }

        long state = Volatile.Read(ref PageSideTable.Run(entry).State);
        count = PageSideTable.CountOfState(state);
        return PageSideTable.GenerationOfState(state) == PageSideTable.GenerationOf(entry) && count > 0;
    }

    /// <summary>
    /// Marks the page life of <paramref name="piece"/>, which the caller holds a reference on, to be unmapped
    /// at its final release and never reused (<see cref="PageRun.Quarantined"/>). A piece that names no live
    /// life is left alone: its release is refused anyway.
    /// </summary>
    internal static void Quarantine(in BioVec piece)
    {
        if (IsCurrent(piece, out long entry, out _))
        {
            PageSideTable.Quarantine(entry);
        }
    }

    /// <summary>The entry for a piece, checked against the piece's page life.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long EntryOf(in BioVec piece)
    {
        long entry = PageSideTable.Find(piece.Page);
        // Whole entry, not just the generation: generations are per descriptor and collide across them.
        if (entry == 0 || (entry & ~PageSideTable.TrackedBit) != piece.Entry)
        {
            ThrowStale(piece);
        }

        return entry;
    }

    /// <summary>
    /// +1 on a live run. Compare-and-swap on the whole state, so a run that was released (count 0) or
    /// whose descriptor was reused (other generation) between the lookup and here is never revived.
    /// </summary>
    private static void AddRef(long entry, nint address)
    {
        ref long state = ref PageSideTable.Run(entry).State;
        uint generation = PageSideTable.GenerationOf(entry);
        long seen = Volatile.Read(ref state);
        while (true)
        {
            int count = PageSideTable.CountOfState(seen);
            if (PageSideTable.GenerationOfState(seen) != generation || count <= 0)
            {
                throw Released(address, 1, seen);
            }

            if (count >= PageSideTable.MaxDuplicatedCount)
            {
                throw new InvalidOperationException(
                    $"The page holding 0x{address:X} already has {count} references; Get takes a page to {PageSideTable.MaxDuplicatedCount} at most.");
            }

            long witnessed = Interlocked.CompareExchange(ref state, seen + 1, seen);
            if (witnessed == seen)
            {
                return;
            }

            seen = witnessed;
        }
    }

    /// <summary>
    /// Drops <paramref name="refs"/> on a live run; the thread that takes it to zero hands it to its owner.
    /// Same compare-and-swap discipline as <see cref="AddRef"/>: a count never goes below zero (without
    /// <paramref name="dropWhatIsLeft"/>, a release of more refs than the run has is refused whole) and a dead
    /// run stays dead.
    /// </summary>
    /// <remarks>
    /// With <paramref name="dropWhatIsLeft"/> (deferred releases, see <see cref="ReleaseDeferred"/>, and
    /// <see cref="PutBatch"/>'s runs), a live run holding fewer than <paramref name="refs"/> has all it holds
    /// dropped, and the excess is reported after.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Release(long entry, nint address, int refs, bool dropWhatIsLeft = false)
    {
        int dropped = PageSideTable.Drop(entry, refs, partial: dropWhatIsLeft, out long seen);
        if (dropped == 0)
        {
            throw Released(address, refs, seen);
        }

        if (PageSideTable.CountOfState(seen) == dropped)
        {
            // Throws if the OS refused the unmap (the owner keeps the run and retries): an excess, below, is
            // then the lesser news.
            PageSideTable.Run(entry).Owner!.OnFinalRelease(entry);
        }

        if (dropped < refs)
        {
            throw Released(address, refs, seen);
        }
    }

    /// <summary>
    /// Takes one reference on the live run that holds all of [<paramref name="address"/>,
    /// <paramref name="address"/> + <paramref name="length"/>) and names that range as a piece of the run's
    /// current life, so it is released like any other piece. False, with nothing taken, when no live run
    /// holds the whole range (foreign memory, a range crossing a run's end, or a run released meanwhile).
    /// </summary>
    internal static bool TryGetRange(nint address, int length, out BioVec piece)
    {
        piece = default;
        long entry = PageSideTable.Find(address);
        if (entry == 0 || length < 0)
        {
            return false;
        }

        try
        {
            GetChecked(entry, address);
        }
        catch (InvalidOperationException)
        {
            // The run died between the lookup and the increment, or (with fragment tracking) the range lies
            // in no live fragment: it is not live native memory.
            return false;
        }

        // With our ref held under the entry's generation the run cannot be unregistered, so its base and
        // length are the ones its registration published.
        ref PageRun run = ref PageSideTable.Run(entry);
        nuint offset = (nuint)(address - run.Base);
        if (offset + (nuint)(uint)length > run.Length || offset > int.MaxValue)
        {
            PutChecked(entry, address);
            return false;
        }

        piece = new BioVec(run.Base, (int)offset, length, entry);
        return true;
    }

    private static InvalidOperationException NotNative(nint address) =>
        new($"Address 0x{address:X} lies in no live native page: it is foreign memory, or its page was already released.");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static InvalidOperationException Released(nint address, int refs, long state) =>
        PageSideTable.CountOfState(state) <= 0 || refs == 1
            ? new($"The page holding 0x{address:X} has no references left: it was already released.")
            : new($"The page holding 0x{address:X} has {PageSideTable.CountOfState(state)} references, fewer than the {refs} being released.");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowStale(in BioVec piece) =>
        throw new InvalidOperationException(
            piece.IsEmpty
                ? "An empty BioVec names no memory."
                : $"{piece} belongs to a page that was already released.");
}
