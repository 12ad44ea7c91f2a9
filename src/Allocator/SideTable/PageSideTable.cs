using System;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using NativeZcopy.Native;

namespace NativeZcopy.SideTable;

/// <summary>
/// The process-wide refcount side table: from any address inside a live run to that run's
/// <see cref="PageRun"/>, in O(1), lock-free and without allocating.
/// </summary>
/// <remarks>
/// <para>
/// Two arrays, as tcmalloc's page map does it. A <b>radix page map</b> turns an address into its OS page
/// number and splits that into a root index and a leaf index; each leaf slot holds an <b>entry</b>,
/// <c>(generation &lt;&lt; 32) | (descriptor index + 1)</c>, or 0 where no run lies. A run of N OS pages
/// writes N slots, so an interior address resolves exactly like the run's first byte. The
/// <b>descriptors</b> sit in fixed-size chunks that never move, so a reference to one stays valid without
/// a lock.
/// </para>
/// <para>
/// The generation is 32 bits, the rest of a 64-bit word that compare-and-swap can update with the count, so
/// it wraps: a stale piece is refused unless its descriptor was reissued a whole multiple of 2^32 times
/// since. A loop of 1 KiB Alloc and Put on one thread reissues its folio in place about 1.5 million times
/// a second with the default 64 KiB folio and 17 million with 4 KiB folios (a Release build, session 10),
/// so its generation would wrap in about 46 and 4 minutes, and a piece held that long and then released
/// twice could be mistaken for a live one. So a generation never wraps: a life under the last one
/// (<see cref="LastGeneration"/>) is never reissued or kept for reuse (<see cref="IsLastLife"/>), only
/// unmapped, and its descriptor is then retired, never handed out again: 64 bytes of descriptor per 2^32
/// lives.
/// </para>
/// <para>
/// Why this and not the others the design names: an open-addressed hash keyed by run base cannot answer
/// for an interior address without knowing the run's size first (runs are 4 KiB to 64 MiB), and a flat
/// lazily committed map of the whole 48-bit space needs a 512 GiB reservation and an OS call in the
/// lookup's failure path. The radix map is two dependent loads, needs no reservation, and commits about
/// 2 MiB per GiB of address space in use.
/// </para>
/// <para>
/// Concurrency. Lookups read slots with <c>Volatile.Read</c> and never lock. Slots for a
/// run are written by the one thread that registers or reissues it (it owns the range: the OS gave it the
/// addresses) and cleared by the one thread that unregisters it, with a compare-and-swap so that a slot
/// the OS has already handed to a new run is left alone. Leaves and descriptor chunks are created under
/// <see cref="s_registrationLock"/> and published with <see cref="Volatile.Write{T}(ref T, T)"/>; they are
/// never freed. The descriptor free list is owned by the same lock. Map and unmap are system calls
/// already, so the lock adds nothing measurable to them and nothing at all to Get, Put or a lookup.
/// </para>
/// </remarks>
internal static partial class PageSideTable
{
    /// <summary>
    /// Bits of user address space covered. 47 on x86-64 and 48 on arm64 without 5-level paging; mappings
    /// above are refused (Linux gives them only to callers that ask with a high hint, which we never do).
    /// </summary>
    private const int AddressBits = 48;

    /// <summary>
    /// Leaf size: 2^18 eight-byte slots is 2 MiB and covers 1 GiB of address space at 4 KiB pages, so a
    /// server that maps a few GiB touches a handful of leaves, and the root stays at 128 Ki references.
    /// </summary>
    private const int LeafBits = 18;

    /// <summary>
    /// Descriptors per chunk. The chunk root is allocated whole when the table starts, a chunk when first
    /// needed: bigger chunks shrink the root but make a process with few runs allocate more up front. At 2^10
    /// both stay small: 1024 x 64 B = 64 KiB chunks and a root of 16 Ki references.
    /// </summary>
    private const int ChunkBits = 10;

    /// <summary>
    /// At most 2^24 live runs (16 Mi): 64 GiB of 4 KiB runs. The chunk root is then 16 Ki references.
    /// </summary>
    private const int MaxRunsBits = 24;

    /// <summary>
    /// Diagnostics hook: set in the low word of the entries of a folio life whose fragments a
    /// <see cref="Diagnostics.FragmentTracker"/> records. Descriptor index + 1 needs at most 25 bits
    /// (<see cref="MaxRunsBits"/> + 1), so bits 25..31 are free; Get, Put and an arena's carve test this
    /// bit of an entry they already hold and take the tracked slow path only when it is set.
    /// </summary>
    public const long TrackedBit = 1L << 30;

    /// <summary>The bits of an entry's low word that hold descriptor index + 1.</summary>
    private const uint EntryIndexMask = (1u << (MaxRunsBits + 1)) - 1;

    /// <summary>log2 of the OS page size, read once from the process's page source.</summary>
    private static readonly int s_pageShift = BitOperations.Log2((uint)PageSource.Os.PageSize);

    /// <summary>The radix map's root: one lazily created leaf per 2^LeafBits OS pages.</summary>
    private static readonly long[]?[] s_leaves = new long[]?[1 << (AddressBits - BitOperations.Log2((uint)PageSource.Os.PageSize) - LeafBits)];

    /// <summary>Descriptor chunks, created on demand under the registration lock and never moved.</summary>
    private static readonly PageRun[]?[] s_chunks = new PageRun[]?[1 << (MaxRunsBits - ChunkBits)];

    /// <summary>Guards leaf and chunk creation, the free list and <see cref="s_nextIndex"/>.</summary>
    private static readonly Lock s_registrationLock = new();

    /// <summary>
    /// Descriptor indices free for reuse. Owned by <see cref="s_registrationLock"/>. Always has room for every
    /// index ever taken (<see cref="TakeIndex"/> doubles it as new indices are handed out), so filing a freed
    /// index never allocates; 256 entries (1 KiB) is what a process with few live runs ever needs.
    /// </summary>
    private static int[] s_freeIndices = new int[256];

    /// <summary>How many of <see cref="s_freeIndices"/> are in use. Owned by <see cref="s_registrationLock"/>.</summary>
    private static int s_freeCount;

    /// <summary>The lowest descriptor index never handed out. Owned by <see cref="s_registrationLock"/>.</summary>
    private static int s_nextIndex;

    /// <summary>
    /// Descriptors retired after their last generation, neither live nor free. Owned by
    /// <see cref="s_registrationLock"/>.
    /// </summary>
    private static int s_retiredIndices;

    /// <summary>
    /// Live runs (registered, not yet unregistered), for statistics and consistency checks. Owned by
    /// <see cref="s_registrationLock"/>; read with Volatile outside it.
    /// </summary>
    private static int s_liveRuns;

    /// <summary>
    /// Bytes of all runs registered now (the metrics' process total). Owned by <see cref="s_registrationLock"/>;
    /// read with Volatile outside it.
    /// </summary>
    private static long s_bytesMapped;

    /// <summary>
    /// The generation no life goes past: a life under it is not reissued, and its descriptor is retired when it
    /// ends, so no entry is ever issued again under a generation a stale piece may still name.
    /// </summary>
    public const uint LastGeneration = uint.MaxValue;

    /// <summary>
    /// The most references <see cref="NativePages.Get(in BioVec)"/> lets a run reach: 2^31 - 1 less 2^29.
    /// A folio's count is its full share plus what slices installed on it add, at most one per aligned byte
    /// (2^29 on the largest folio that slices, see ZcopyAllocator's constructor), and installs add without a
    /// check; keeping duplicates below this leaves them that room, so the count never passes
    /// <see cref="int.MaxValue"/>. 1.6 billion duplicates of one page is no limit for real use.
    /// </summary>
    public const int MaxDuplicatedCount = int.MaxValue - (1 << 29);

    /// <summary>Number of runs currently registered.</summary>
    public static int LiveRuns => Volatile.Read(ref s_liveRuns);

    /// <summary>Bytes of all runs currently registered: every folio and page run NativeZcopy has mapped.</summary>
    public static long BytesMapped => Volatile.Read(ref s_bytesMapped);

    /// <summary>log2 of the OS page size.</summary>
    public static int PageShift => s_pageShift;

    /// <summary>The entry for the run holding <paramref name="address"/>, or 0 when no live run does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Find(nint address)
    {
        nuint page = (nuint)address >> s_pageShift;
        nuint root = page >> LeafBits;
        long[]?[] leaves = s_leaves;
        if (root >= (nuint)leaves.Length)
        {
            return 0;
        }

        // Unchecked indexing: root was just compared with the root's length, and every leaf is exactly
        // 2^LeafBits slots long, which the mask keeps the leaf index below.
        long[]? leaf = Volatile.Read(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(leaves), root));
        return leaf is null
            ? 0
            : Volatile.Read(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(leaf), page & ((1 << LeafBits) - 1)));
    }

    /// <summary>The descriptor an entry names. The entry must be non-zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref PageRun Run(long entry)
    {
        // Unchecked indexing: a non-zero entry was issued by Register for an index below 2^MaxRunsBits,
        // whose chunk exists (chunks are never freed) and is exactly 2^ChunkBits descriptors long. The plain
        // read sees the chunk: Register stores the chunk before the descriptor's State and its slots, each
        // with a releasing write, and a caller holding an entry reached it through an acquiring read of a slot
        // or State, or was handed it by a thread that had (a piece is published like any other data).
        uint index = ((uint)entry & EntryIndexMask) - 1;
        PageRun[] chunk = Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(s_chunks), index >> ChunkBits)!;
        return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(chunk), index & ((1 << ChunkBits) - 1));
    }

    /// <summary>True when the entry's folio life is recorded by a fragment tracker (see <see cref="TrackedBit"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsTracked(long entry) => (entry & TrackedBit) != 0;

    /// <summary>The generation an entry was issued under.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint GenerationOf(long entry) => (uint)((ulong)entry >> 32);

    /// <summary>The generation part of a descriptor's state.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint GenerationOfState(long state) => (uint)((ulong)state >> 32);

    /// <summary>The refcount part of a descriptor's state.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CountOfState(long state) => (int)state;

    /// <summary>
    /// Drops up to <paramref name="refs"/> references from the life <paramref name="entry"/> names, in one
    /// compare-and-swap on its state: never below zero and never on another life, so a count short of what
    /// its holders give back (a piece released twice) never borrows from the generation. With
    /// <paramref name="partial"/> false a count below <paramref name="refs"/> is left alone. Returns how many
    /// were dropped, 0 when the life is over or nothing was dropped, and the state they were dropped from:
    /// the caller's was the final release when <see cref="CountOfState"/> of it equals the result.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Drop(long entry, int refs, bool partial, out long seen)
    {
        ref PageRun run = ref Run(entry);
        uint generation = GenerationOf(entry);
        seen = Volatile.Read(ref run.State);
        while (true)
        {
            int count = CountOfState(seen);
            if (GenerationOfState(seen) != generation || count <= 0 || (count < refs && !partial))
            {
                return 0;
            }

            int dropped = Math.Min(count, refs);
            long witnessed = Interlocked.CompareExchange(ref run.State, seen - dropped, seen);
            if (witnessed == seen)
            {
                return dropped;
            }

            seen = witnessed;
        }
    }

    /// <summary>
    /// Drops up to <paramref name="refs"/> references from the life <paramref name="entry"/> names but leaves
    /// it at least <paramref name="keep"/> (at least 1), in one compare-and-swap, never on another life: for a
    /// holder that gives back what it holds beyond what it still needs, so this is never a final release,
    /// even when a piece released twice left the count short of what the holder believes it holds. Returns
    /// how many were dropped.
    /// </summary>
    public static int DropKeeping(long entry, int refs, int keep)
    {
        ref PageRun run = ref Run(entry);
        uint generation = GenerationOf(entry);
        long seen = Volatile.Read(ref run.State);
        while (true)
        {
            int dropped = Math.Min(refs, CountOfState(seen) - keep);
            if (GenerationOfState(seen) != generation || dropped <= 0)
            {
                return 0;
            }

            long witnessed = Interlocked.CompareExchange(ref run.State, seen - dropped, seen);
            if (witnessed == seen)
            {
                return dropped;
            }

            seen = witnessed;
        }
    }

    /// <summary>
    /// Marks the life <paramref name="entry"/> names as one whose bytes the kernel may still read after their
    /// holders let go (see <see cref="PageRun.Quarantined"/>). The caller holds a reference on that life, so
    /// the mark lands before the final release, whose compare-and-swap on the state follows the caller's.
    /// </summary>
    public static void Quarantine(long entry) => Volatile.Write(ref Run(entry).Quarantined, 1);

    /// <summary>
    /// True when the life <paramref name="entry"/> names must be unmapped at its final release, never reissued
    /// in place or kept for reuse: it is quarantined (<see cref="Quarantine"/>), or it is its descriptor's last
    /// generation (<see cref="LastGeneration"/>), after which a reissue would wrap to one a stale piece may name.
    /// </summary>
    public static bool IsLastLife(long entry) =>
        GenerationOf(entry) == LastGeneration || Volatile.Read(ref Run(entry).Quarantined) != 0;

    /// <summary>
    /// Registers a fresh mapping with <paramref name="initialCount"/> refs and publishes its slots.
    /// Returns its entry. Throws <see cref="OutOfMemoryException"/> when the mapping lies outside the
    /// covered address space or the descriptor space is exhausted; the caller still owns the mapping then.
    /// <paramref name="tracked"/> sets <see cref="TrackedBit"/> in the entry.
    /// </summary>
    public static long Register(nint address, nuint length, int initialCount, PageRunOwner owner, bool tracked = false)
    {
        // Metrics: the first mapping publishes the NativeZcopy meter (one volatile read afterwards). Here,
        // outside every lock and type initializer, because publishing calls listeners' callbacks.
        ZcopyMetrics.EnsureStaticMeter();

        // Through nuint, as Find reads it: in a 32-bit process an address at 2 GiB or above is a negative nint,
        // which a cast straight to ulong would sign-extend far past the table.
        ulong firstPage = (ulong)(nuint)address >> s_pageShift;
        ulong lastPage = ((ulong)(nuint)address + length - 1) >> s_pageShift;
        if ((lastPage >> LeafBits) >= (ulong)s_leaves.Length)
        {
            throw new OutOfMemoryException(
                $"The mapping at 0x{address:X} ({length} bytes) lies above the {AddressBits}-bit address space the side table covers.");
        }

        long entry;
        lock (s_registrationLock)
        {
            // Everything that can fail (a leaf's or a chunk's allocation, the descriptor limit) comes before the
            // first write, so a failure leaves the table as it was: no descriptor half-filled, no slot naming an
            // entry that was never counted live. A leaf created for nothing stays; it is empty and reused.
            for (ulong leaf = firstPage >> LeafBits; leaf <= lastPage >> LeafBits; leaf++)
            {
                LeafFor(leaf << LeafBits);
            }

            int index = TakeIndex();
            ref PageRun run = ref s_chunks[index >> ChunkBits]![index & ((1 << ChunkBits) - 1)];
            run.Base = address;
            run.Length = length;
            run.Owner = owner;
            run.Quarantined = 0;
            uint generation = GenerationOfState(Volatile.Read(ref run.State));
            Volatile.Write(ref run.State, ((long)generation << 32) | (uint)initialCount);
            entry = ((long)generation << 32) | (uint)(index + 1) | (tracked ? TrackedBit : 0);

            for (ulong page = firstPage; page <= lastPage; page++)
            {
                Volatile.Write(ref LeafFor(page)[page & ((1 << LeafBits) - 1)], entry);
            }

            s_liveRuns++;

            // Metrics: mapped bytes, process-wide and per owner.
            Volatile.Write(ref s_bytesMapped, s_bytesMapped + (long)length);
            owner.AddBytesMapped((long)length);
        }

        return entry;
    }

    /// <summary>
    /// Gives a run whose count its owner holds entirely (count reached zero with the owner's last
    /// share) a new generation and <paramref name="count"/> refs, and rewrites its slots. Pieces of the
    /// run's previous life can no longer touch it. Returns the new entry, with <see cref="TrackedBit"/>
    /// set when <paramref name="tracked"/> says the new life is recorded.
    /// </summary>
    public static long Reissue(long entry, int count, bool tracked = false)
    {
        ref PageRun run = ref Run(entry);
        uint generation = GenerationOf(entry) + 1;
        Volatile.Write(ref run.State, ((long)generation << 32) | (uint)count);
        long fresh = ((long)generation << 32) | ((uint)entry & EntryIndexMask) | (tracked ? TrackedBit : 0);
        RewriteSlots(run.Base, run.Length, fresh);
        return fresh;
    }

    /// <summary>
    /// Tests only: <see cref="Reissue"/> under a chosen <paramref name="generation"/>, keeping the count, so a
    /// test reaches <see cref="LastGeneration"/> without 2^32 lives. The caller holds every reference the
    /// life has and replaces its pieces by ones naming the returned entry.
    /// </summary>
    internal static long ReissueUnderForTests(long entry, uint generation)
    {
        ref PageRun run = ref Run(entry);
        Volatile.Write(ref run.State, ((long)generation << 32) | (uint)CountOfState(Volatile.Read(ref run.State)));
        long fresh = ((long)generation << 32) | (entry & ~(((long)uint.MaxValue) << 32));
        RewriteSlots(run.Base, run.Length, fresh);
        return fresh;
    }

    /// <summary>
    /// Removes a dead run (count zero) from the map and frees its descriptor under a new generation, or
    /// retires it after its <see cref="LastGeneration"/>. Slots the OS has meanwhile given to another run are
    /// not touched.
    /// </summary>
    public static void Unregister(long entry)
    {
        ref PageRun run = ref Run(entry);
        ReplaceSlots(run.Base, run.Length, entry, 0);
        lock (s_registrationLock)
        {
            // Metrics: mapped bytes, process-wide and per owner.
            Volatile.Write(ref s_bytesMapped, s_bytesMapped - (long)run.Length);
            run.Owner?.AddBytesMapped(-(long)run.Length);

            run.Owner = null;
            run.Base = 0;
            run.Length = 0;
            Volatile.Write(ref run.State, (long)(GenerationOf(entry) + 1) << 32);
            s_liveRuns--;
            if (GenerationOf(entry) == LastGeneration)
            {
                // Retired: the next generation would be 0 again, which stale pieces of this descriptor may name.
                s_retiredIndices++;
                return;
            }

            // Room is certain: TakeIndex grows the free list with every new index, so nothing here allocates
            // (a failure after the writes above would lose the index with the run half unregistered).
            Debug.Assert(s_freeCount < s_freeIndices.Length, "the free list has room for every index ever taken");
            s_freeIndices[s_freeCount++] = (int)((uint)entry & EntryIndexMask) - 1;
        }
    }

    /// <summary>
    /// Replaces <paramref name="expected"/> by <paramref name="value"/> in every slot of a run that has been
    /// unmapped: one compare-and-swap per slot, since the OS may already have given a page to a new run whose
    /// entry must stay.
    /// </summary>
    private static void ReplaceSlots(nint address, nuint length, long expected, long value)
    {
        ulong firstPage = (ulong)(nuint)address >> s_pageShift;
        ulong lastPage = ((ulong)(nuint)address + length - 1) >> s_pageShift;
        for (ulong page = firstPage; page <= lastPage; page++)
        {
            long[] leaf = s_leaves[page >> LeafBits]!;
            Interlocked.CompareExchange(ref leaf[page & ((1 << LeafBits) - 1)], value, expected);
        }
    }

    /// <summary>
    /// Writes <paramref name="value"/> in every slot of a run that is still mapped and registered, with plain
    /// releasing stores: while it is, no other run can be given its pages, and only the holder of its dead
    /// life (the one caller of <see cref="Reissue"/>) writes its slots. The run's state was written first, so
    /// a reader that finds the new entry in a slot finds the new generation in the state; one that finds the
    /// old entry finds a generation that no longer matches it and treats the piece as released.
    /// </summary>
    private static void RewriteSlots(nint address, nuint length, long value)
    {
        ulong firstPage = (ulong)(nuint)address >> s_pageShift;
        ulong lastPage = ((ulong)(nuint)address + length - 1) >> s_pageShift;
        for (ulong page = firstPage; page <= lastPage; page++)
        {
            long[] leaf = s_leaves[page >> LeafBits]!;
            Volatile.Write(ref leaf[page & ((1 << LeafBits) - 1)], value);
        }
    }

    /// <summary>The leaf for an OS page number, created if needed. Caller holds the registration lock.</summary>
    private static long[] LeafFor(ulong page)
    {
        ref long[]? leaf = ref s_leaves[page >> LeafBits];
        if (leaf is null)
        {
            Volatile.Write(ref leaf, new long[1 << LeafBits]);
        }

        return leaf;
    }

    /// <summary>A free descriptor index, its chunk created if needed. Caller holds the registration lock.</summary>
    private static int TakeIndex()
    {
        if (s_freeCount > 0)
        {
            return s_freeIndices[--s_freeCount];
        }

        int index = s_nextIndex;
        if (index >= 1 << MaxRunsBits)
        {
            throw new OutOfMemoryException($"The side table already tracks {1 << MaxRunsBits} live runs, its limit.");
        }

        ref PageRun[]? chunk = ref s_chunks[index >> ChunkBits];
        if (chunk is null)
        {
            Volatile.Write(ref chunk, new PageRun[1 << ChunkBits]);
        }

        // The free list keeps room for every index ever taken, so Unregister, which writes the run dead before
        // it files the index, never has to allocate. Grown here, before Register writes anything.
        if (index >= s_freeIndices.Length)
        {
            Array.Resize(ref s_freeIndices, s_freeIndices.Length * 2);
        }

        s_nextIndex = index + 1;
        return index;
    }
}
