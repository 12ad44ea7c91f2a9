using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
using System.Net.Sockets;
using System.Threading;
using NativeZcopy.Native;
using NativeZcopy.Net;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

/// <summary>
/// Every public entry point fed what it must refuse: each case gets its documented exception naming the
/// offending value, and afterwards the side table is consistent with itself and with /proc/self/maps and
/// holds exactly the runs it held before.
/// </summary>
[Collection(ProcMapsReaders.Name)]
public sealed class BadInputTableTests
{
    private static readonly ZcopyAllocatorOptions s_small = new() { FolioSize = 16384 };

    private static readonly ZcopyAllocatorOptions s_tracked = new() { FolioSize = 16384, TrackFragments = true, LeakReportAge = Timeout.InfiniteTimeSpan };

    private static readonly Dictionary<string, Action> s_cases = new()
    {
        ["Alloc size 0"] = () => AllocSize(0),
        ["Alloc size -1"] = () => AllocSize(-1),
        ["Alloc size int.MinValue"] = () => AllocSize(int.MinValue),
        ["Alloc size half a folio + 1"] = () => AllocSize(8193),
        ["Alloc size int.MaxValue"] = () => AllocSize(int.MaxValue),
        ["MemDup empty"] = () => MemDupLength(0),
        ["MemDup too long"] = () => MemDupLength(8193),
        ["NativePages.Alloc 0"] = () => Throws<ArgumentOutOfRangeException>(() => NativePages.Alloc(0), "0"),
        ["NativePages.Alloc -4096"] = () => Throws<ArgumentOutOfRangeException>(() => NativePages.Alloc(-4096), "-4096"),
        ["NativePages.Alloc int.MinValue"] = () => Throws<ArgumentOutOfRangeException>(() => NativePages.Alloc(int.MinValue), "-2147483648"),
        ["Get/Put null address"] = () => ForeignAddress(0),
        ["Get/Put address -1"] = () => ForeignAddress(-1),
        ["Get/Put address above the covered space"] = () => ForeignAddress((nint)1 << 48),
        ["Get/Put stack address"] = StackAddress,
        ["Get/Put managed heap address"] = ManagedHeapAddress,
        ["Get/Put address past the end of a run"] = PastTheEndOfARun,
        ["Get/Put interior address of a released run"] = InteriorOfAReleasedRun,
        ["Put/Get of an empty BioVec"] = EmptyPiece,
        ["Double Put of a page run"] = DoublePutOfARun,
        ["Double Put of an allocator piece by piece"] = DoublePutOfAPiece,
        ["Double Put of a tracked piece by address, folio still referenced"] = DoublePutOfATrackedPieceByAddress,
        ["Double Put of a piece, then Dispose, arenas only"] = DoublePutThenDisposeArenasOnly,
        ["Double Put of a piece taken back into a thread's slice, then Dispose"] = DoublePutIntoASliceThenDispose,
        ["Put of a piece from a reissued folio life"] = PutOfAReissuedPiece,
        ["ZcopyMemoryOwner of a piece of a folio kept for reuse"] = MemoryOwnerOfARetainedPiece,
        ["Local cache Alloc after its allocator was disposed"] = LocalCacheOfADisposedAllocator,
        ["Alloc, TryAlloc, MemDup on a disposed allocator"] = DisposedAllocator,
        ["Bad options"] = BadOptions,
        ["Slice outside the piece"] = SliceOutside,
        ["CheckForLeaks negative age"] = () => WithAllocator(s_tracked, a => Throws<ArgumentOutOfRangeException>(() => a.CheckForLeaks(TimeSpan.FromSeconds(-1)), "-00:00:01")),
        ["Unmap refused on the last Put"] = UnmapRefusedOnLastPut,
        ["AllocBatch with a bad size after good ones"] = AllocBatchBadSize,
        ["PutBatch with an empty piece between live ones"] = PutBatchWithAnEmptyPiece,
        ["Pool Rent below -1, live and over a disposed allocator"] = PoolRentBelowMinusOne,
        ["Owner Pin past its piece"] = OwnerPinPastThePiece,
        ["Message Add of an empty or released piece"] = MessageAddOfBadPieces,
        ["CreateMeter of a null factory"] = () => Assert.Equal("meterFactory", Assert.Throws<ArgumentNullException>(() => ZcopyMetrics.CreateMeter(null!)).ParamName),
        ["FragmentLeakedEventArgs of a null fragment"] = () => Assert.Equal("fragment", Assert.Throws<ArgumentNullException>(() => new FragmentLeakedEventArgs(null!)).ParamName),
        ["A disposed allocator is named alike by every entry point"] = DisposedAllocatorNamedAlike,
        ["A disposed message, owner, pool or cache is named by its full type name"] = DisposedObjectsNamedByFullName,
        ["Get/Put by address on a folio kept for reuse"] = AddressOfARetainedFolio,
        ["Message AddRef of a tracked empty piece where two fragments meet"] = MessageAddRefOfASeam,
    };

    public static TheoryData<string> Cases => new(s_cases.Keys);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Bad_input_gets_its_documented_exception_and_leaves_the_table_consistent(string name)
    {
        Collections.SettleDroppedAllocators();
        int runsBefore = PageSideTable.LiveRuns;
        s_cases[name]();
        Assert.Equal(runsBefore, PageSideTable.LiveRuns);
        SideTableChecker.AssertConsistent();
    }

    private static void AllocSize(int size)
    {
        WithAllocator(s_small, allocator =>
        {
            Throws<ArgumentOutOfRangeException>(() => allocator.Alloc(size), size.ToString(CultureInfo.InvariantCulture));
            Assert.False(allocator.TryAlloc(size, out BioVec none));
            Assert.True(none.IsEmpty);
            Assert.Equal(0, allocator.GetStatistics().FoliosMapped);
        });
    }

    private static void MemDupLength(int length)
    {
        WithAllocator(s_small, allocator =>
        {
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => allocator.MemDup(new byte[length]));
            Assert.Equal("source", error.ParamName);
            Assert.Contains(length.ToString(CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
            Assert.Equal(0, allocator.GetStatistics().FoliosMapped);
        });
    }

    private static void ForeignAddress(nint address)
    {
        string hex = $"0x{address:X}";
        Throws<InvalidOperationException>(() => NativePages.Get(address), hex);
        Throws<InvalidOperationException>(() => NativePages.Put(address), hex);
        Assert.Equal(0, NativePages.RefCount(address));
        Assert.False(NativePages.IsNativePage(address));
    }

    private static unsafe void StackAddress()
    {
        byte* local = stackalloc byte[8];
        ForeignAddress((nint)local);
    }

    private static unsafe void ManagedHeapAddress()
    {
        byte[] managed = GC.AllocateArray<byte>(64, pinned: true);
        fixed (byte* address = managed)
        {
            ForeignAddress((nint)address);
        }
    }

    private static void PastTheEndOfARun()
    {
        // Guard pages on both sides: tests running in parallel map runs too, and one of theirs could
        // otherwise sit right after ours (the case failed that way once in 13 runs of the suite).
        BioVec run = NativePages.Alloc(NativePages.OsPageSize, new PageRunOwner(new GuardedPageSource()));
        try
        {
            ForeignAddress(run.Page + NativePages.OsPageSize);
            ForeignAddress(run.Page - 1);
        }
        finally
        {
            NativePages.Put(run);
        }
    }

    private static void InteriorOfAReleasedRun()
    {
        BioVec run = NativePages.Alloc(3 * NativePages.OsPageSize);
        NativePages.Put(run);
        if (PageSideTable.Find(run.Page + NativePages.OsPageSize) == 0)
        {
            ForeignAddress(run.Page + NativePages.OsPageSize + 17);
        }

        Throws<InvalidOperationException>(() => NativePages.Put(run), "already released");
        Throws<InvalidOperationException>(() => NativePages.Get(run), "already released");
    }

    private static void EmptyPiece()
    {
        Throws<InvalidOperationException>(() => NativePages.Put(default(BioVec)), "empty");
        Throws<InvalidOperationException>(() => NativePages.Get(default(BioVec)), "empty");
    }

    private static void DoublePutOfARun()
    {
        BioVec run = NativePages.Alloc(100);
        NativePages.Put(run);
        Throws<InvalidOperationException>(() => NativePages.Put(run), "already released");
    }

    private static void DoublePutOfAPiece()
    {
        WithAllocator(s_small, allocator =>
        {
            BioVec piece = allocator.Alloc(8192);
            BioVec other = allocator.Alloc(8192);
            NativePages.Put(piece);
            NativePages.Put(other);
            allocator.Dispose();                                   // the folio goes back to the OS
            Throws<InvalidOperationException>(() => NativePages.Put(piece), "already released");
        });
    }

    private static void DoublePutOfATrackedPieceByAddress()
    {
        WithAllocator(s_tracked, allocator =>
        {
            BioVec piece = allocator.Alloc(40);
            BioVec holder = allocator.Alloc(40);
            NativePages.Put(piece.Address);
            int count = NativePages.RefCount(holder.Page);
            Throws<InvalidOperationException>(() => NativePages.Put(piece.Address + 39), $"0x{piece.Address + 39:X}");
            Throws<InvalidOperationException>(() => NativePages.Put(piece), "already released");
            Assert.Equal(count, NativePages.RefCount(holder.Page));
            NativePages.Put(holder);
        });
    }

    /// <summary>
    /// A second Put on a live folio cannot be told from a real one (only fragment tracking sees it): it takes
    /// one of the arena's references. When the arena gives its share back the count must stop at zero, not
    /// borrow from the generation and keep the folio mapped for good (found by a review in session 9).
    /// </summary>
    private static void DoublePutThenDisposeArenasOnly()
    {
        var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 16384, ThreadCache = false }, PageSource.Os, processors: 1);
        BioVec piece = allocator.Alloc(64);
        NativePages.Put(piece);
        NativePages.Put(piece);
        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
        Throws<InvalidOperationException>(() => NativePages.Put(piece), "already released");
    }

    /// <summary>The same with the second Put taken back into the thread's slice, on a thread of its own so the slice is this allocator's.</summary>
    private static void DoublePutIntoASliceThenDispose()
    {
        var allocator = new ZcopyAllocator(s_small, PageSource.Os, processors: 1);
        var thread = new Thread(() =>
        {
            BioVec piece = allocator.Alloc(64);
            NativePages.Put(piece);
            NativePages.Put(piece);
            allocator.Dispose();
        });
        thread.Start();
        thread.Join();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    /// <summary>
    /// A dead folio kept for reuse keeps its entry in the table with a count of zero: a piece of its last
    /// life must be refused as one of a released page, not adopted (found by a review in session 9).
    /// </summary>
    private static void MemoryOwnerOfARetainedPiece()
    {
        WithAllocator(new ZcopyAllocatorOptions { FolioSize = 16384, ThreadCache = false, RetainedFoliosPerArena = 2 }, allocator =>
        {
            BioVec first = allocator.Alloc(8192);
            BioVec second = allocator.Alloc(8192);
            BioVec[] later = [allocator.Alloc(8192), allocator.Alloc(8192), allocator.Alloc(8192)]; // the arena moves past the first folio
            NativePages.Put(first);
            NativePages.Put(second);                               // the first folio dies into the stash
            Assert.Equal(1, allocator.GetStatistics().FoliosRetained);
            Throws<InvalidOperationException>(() => new ZcopyMemoryOwner(first), "already released");
            SideTableChecker.AssertConsistent();                   // a kept folio is consistent too
            Assert.Equal(1, allocator.GetStatistics().FoliosRetained);
            foreach (BioVec piece in later)
            {
                NativePages.Put(piece);
            }
        });
    }

    /// <summary>
    /// A local cache must not cut from the slice it still holds once its allocator is disposed; the slice
    /// goes back with the refusal (found by a review in session 9).
    /// </summary>
    private static void LocalCacheOfADisposedAllocator()
    {
        var allocator = new ZcopyAllocator(s_small, PageSource.Os, processors: 1);
        var cache = allocator.CreateLocalCache();
        NativePages.Put(cache.Alloc(64));
        BioVec cut = cache.Alloc(64);
        allocator.Dispose();

        // The slice still has room, but the allocator is gone: refused, and the slice goes back with it.
        Throws<ObjectDisposedException>(() => cache.Alloc(64), nameof(ZcopyAllocator));
        Throws<ObjectDisposedException>(() => cache.Alloc(64), nameof(ZcopyAllocator));
        Assert.Equal(1, allocator.GetStatistics().LiveFolios);    // held by the piece alone now
        NativePages.Put(cut);
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
        cache.Dispose();

        using var late = new ZcopyLocalCache(allocator);          // made after the Dispose: starts shut, the allocator refuses
        Throws<ObjectDisposedException>(() => late.Alloc(64), nameof(ZcopyAllocator));
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    private static void PutOfAReissuedPiece()
    {
        WithAllocator(new ZcopyAllocatorOptions { FolioSize = 16384 }, allocator =>
        {
            BioVec first = allocator.Alloc(8192);
            NativePages.Put(first);
            NativePages.Put(allocator.Alloc(8192));
            BioVec again = allocator.Alloc(8192);                  // the folio's next life
            int count = NativePages.RefCount(again.Page);
            Throws<InvalidOperationException>(() => NativePages.Put(first), "already released");
            Assert.Equal(count, NativePages.RefCount(again.Page));
            NativePages.Put(again);
        });
    }

    private static void DisposedAllocator()
    {
        var allocator = new ZcopyAllocator(s_small, PageSource.Os, processors: 1);
        NativePages.Put(allocator.Alloc(10));
        allocator.Dispose();
        Throws<ObjectDisposedException>(() => allocator.Alloc(10), nameof(ZcopyAllocator));
        Throws<ObjectDisposedException>(() => allocator.TryAlloc(10, out _), nameof(ZcopyAllocator));
        Throws<ObjectDisposedException>(() => allocator.MemDup([1]), nameof(ZcopyAllocator));
        allocator.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    private static void BadOptions()
    {
        Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 3000 }), "FolioSize 3000");
        Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { Alignment = 12 }), "Alignment 12");
        Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { TrackingSampleRate = -3 }), "TrackingSampleRate -3");
        Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = true, TrackingSampleRate = 5 }), "TrackingSampleRate 5");
        Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { RetainedFoliosPerArena = -1 }), "RetainedFoliosPerArena -1");
        Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { RetainedFoliosPerArena = 1025 }), "RetainedFoliosPerArena 1025");
        Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { LeakReportAge = TimeSpan.FromSeconds(-5) }), "LeakReportAge -00:00:05");
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => new ZcopyAllocator(new ZcopyAllocatorOptions { FolioSize = 3000 })).ParamName);
    }

    private static void SliceOutside()
    {
        WithAllocator(s_small, allocator =>
        {
            BioVec piece = allocator.Alloc(16);
            Throws<ArgumentOutOfRangeException>(() => piece.Slice(10, 7), "Slice(10, 7)");
            Throws<ArgumentOutOfRangeException>(() => piece.Slice(-1, 1), "Slice(-1, 1)");
            Throws<ArgumentOutOfRangeException>(() => piece.Slice(17, 0), "Slice(17, 0)");
            NativePages.Put(piece);
        });
    }

    private static void UnmapRefusedOnLastPut()
    {
        var source = new FaultInjectingPageSource();
        var owner = new PageRunOwner(source);
        BioVec run = NativePages.Alloc(5000, owner);
        source.FailUnmaps = true;
        Throws<InvalidOperationException>(() => NativePages.Put(run), $"0x{run.Page:X}");
        Throws<InvalidOperationException>(() => NativePages.Put(run), "already released");
        SideTableChecker.AssertConsistent();                       // a pending run is consistent too
        source.FailUnmaps = false;
        Assert.Equal(1, owner.RetryPendingUnmaps());
        Assert.Equal(0, source.BytesMapped);
    }

    private static void AllocBatchBadSize()
    {
        WithAllocator(s_small, allocator =>
        {
            var pieces = new BioVec[3];
            Throws<ArgumentOutOfRangeException>(() => allocator.AllocBatch([8, 16, 0], pieces), "sizes[2] = 0");
            Assert.All(pieces, piece => Assert.True(piece.IsEmpty));
            Assert.Equal(0, allocator.GetStatistics().FoliosMapped);
        });
    }

    private static void PutBatchWithAnEmptyPiece()
    {
        // Every valid piece is released before the bad one is reported: the folio's count is back to the arena's
        // own (arena pieces, so each release moves the count; a thread's slice would keep them in its share).
        WithAllocator(new ZcopyAllocatorOptions { FolioSize = 16384, ThreadCache = false }, allocator =>
        {
            BioVec first = allocator.Alloc(8);
            BioVec last = allocator.Alloc(8);
            int arenaOnly = NativePages.RefCount(first.Address) - 2;
            Throws<InvalidOperationException>(() => NativePages.PutBatch([first, default, last]), "empty");
            Assert.Equal(arenaOnly, NativePages.RefCount(first.Address));
        });
    }

    private static void PoolRentBelowMinusOne()
    {
        var allocator = new ZcopyAllocator(s_small, PageSource.Os, processors: 1);
        using var pool = new ZcopyMemoryPool(allocator);
        Throws<ArgumentOutOfRangeException>(() => pool.Rent(-2), "-2");
        allocator.Dispose();
        Throws<ArgumentOutOfRangeException>(() => pool.Rent(-2), "-2");   // the size is checked first
        Assert.Throws<ObjectDisposedException>(() => pool.Rent(64));
    }

    private static void OwnerPinPastThePiece()
    {
        WithAllocator(s_small, allocator =>
        {
            using var pool = new ZcopyMemoryPool(allocator);
            using IMemoryOwner<byte> owner = pool.Rent(100);
            var memory = (MemoryManager<byte>)owner;
            int length = owner.Memory.Length;
            Throws<ArgumentOutOfRangeException>(() => memory.Pin(length + 1), (length + 1).ToString(CultureInfo.InvariantCulture));
            Throws<ArgumentOutOfRangeException>(() => memory.Pin(-1), "-1");
            memory.Pin(length).Dispose();   // the empty slice at the end is pinnable
        });
    }

    private static void MessageAddOfBadPieces()
    {
        WithAllocator(s_small, allocator =>
        {
            using var message = new ZcopyMessage(allocator);
            Assert.Throws<ArgumentException>(() => message.Add(default));
            BioVec released = NativePages.Alloc(100);
            NativePages.Put(released);
            Throws<InvalidOperationException>(() => message.AddRef(released), "released");
            Assert.Equal(0, message.Count);
        });
    }

    /// <summary>
    /// A disposed allocator is refused under one name whichever entry point meets it: a pool's large rent named
    /// it by its full type name and every other path by its short one.
    /// </summary>
    private static void DisposedAllocatorNamedAlike()
    {
        string name = typeof(ZcopyAllocator).FullName!;
        var allocator = new ZcopyAllocator(s_small, PageSource.Os, processors: 1);
        using var pool = new ZcopyMemoryPool(allocator);
        var cache = allocator.CreateLocalCache();
        NativePages.Put(cache.Alloc(64));                          // registered, so Dispose shuts it
        using var unused = allocator.CreateLocalCache();          // not registered yet: refused at its first slice
        allocator.Dispose();
        using var late = new ZcopyLocalCache(allocator);          // made after the Dispose: starts shut, the allocator refuses
        Assert.Equal(name, Assert.Throws<ObjectDisposedException>(() => allocator.Alloc(64)).ObjectName);
        Assert.Equal(name, Assert.Throws<ObjectDisposedException>(() => allocator.Alloc(6000)).ObjectName);
        Assert.Equal(name, Assert.Throws<ObjectDisposedException>(() => cache.Alloc(64)).ObjectName);
        Assert.Equal(name, Assert.Throws<ObjectDisposedException>(() => unused.Alloc(64)).ObjectName);
        Assert.Equal(name, Assert.Throws<ObjectDisposedException>(() => late.Alloc(64)).ObjectName);
        Assert.Equal(name, Assert.Throws<ObjectDisposedException>(() => pool.Rent(64)).ObjectName);
        Assert.Equal(name, Assert.Throws<ObjectDisposedException>(() => pool.Rent(1 << 20)).ObjectName);
        cache.Dispose();
    }

    /// <summary>
    /// A message was named in full by its adds and by its short name by SendZcopyAsync, and a memory owner by its
    /// short name where the pool and the local cache give their full ones.
    /// </summary>
    private static void DisposedObjectsNamedByFullName()
    {
        WithAllocator(s_small, allocator =>
        {
            var message = new ZcopyMessage(allocator);
            message.Dispose();
            string messageName = typeof(ZcopyMessage).FullName!;
            Assert.Equal(messageName, Assert.Throws<ObjectDisposedException>(() => message.Add(default)).ObjectName);
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            Action send = () => socket.SendZcopyAsync(message).AsTask();   // refused before a task exists
            Assert.Equal(messageName, Assert.Throws<ObjectDisposedException>(send).ObjectName);

            var pool = new ZcopyMemoryPool(allocator);
            var owner = (ZcopyMemoryOwner)pool.Rent(100);
            owner.Dispose();
            pool.Dispose();
            Assert.Equal(typeof(ZcopyMemoryOwner).FullName, Assert.Throws<ObjectDisposedException>(() => owner.Memory).ObjectName);
            Assert.Equal(typeof(ZcopyMemoryPool).FullName, Assert.Throws<ObjectDisposedException>(() => pool.Rent(1)).ObjectName);

            var cache = allocator.CreateLocalCache();
            cache.Dispose();
            Assert.Equal(typeof(ZcopyLocalCache).FullName, Assert.Throws<ObjectDisposedException>(() => cache.Alloc(8)).ObjectName);
        });
    }

    /// <summary>A folio kept for reuse has count 0 in the table: Get and Put by address are refused naming the address.</summary>
    private static void AddressOfARetainedFolio()
    {
        WithAllocator(new ZcopyAllocatorOptions { FolioSize = 16384, ThreadCache = false, RetainedFoliosPerArena = 2 }, allocator =>
        {
            BioVec first = allocator.Alloc(8192);
            BioVec second = allocator.Alloc(8192);
            BioVec[] later = [allocator.Alloc(8192), allocator.Alloc(8192), allocator.Alloc(8192)];
            NativePages.Put(first);
            NativePages.Put(second);
            Assert.Equal(1, allocator.GetStatistics().FoliosRetained);
            Throws<InvalidOperationException>(() => NativePages.Get(first.Address + 5), $"0x{first.Address + 5:X}");
            Throws<InvalidOperationException>(() => NativePages.Put(first.Address + 5), $"0x{first.Address + 5:X}");
            Assert.Equal(1, allocator.GetStatistics().FoliosRetained);
            NativePages.PutBatch(later);
        });
    }

    private static void MessageAddRefOfASeam()
    {
        WithAllocator(s_tracked, allocator =>
        {
            BioVec first = allocator.Alloc(16);
            BioVec second = allocator.Alloc(16);
            using var message = new ZcopyMessage(allocator);
            Throws<InvalidOperationException>(() => message.AddRef(first.Slice(16, 0)), "two live tracked fragments");
            Assert.Equal(0, message.Count);
            NativePages.PutBatch([first, second]);
        });
    }

    private static void WithAllocator(ZcopyAllocatorOptions options, Action<ZcopyAllocator> body)
    {
        using var allocator = new ZcopyAllocator(options, PageSource.Os, processors: 1);
        body(allocator);
    }

    private static void Throws<TException>(Func<object?> action, string named)
        where TException : Exception
    {
        TException error = Assert.Throws<TException>(action);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    private static void Throws<TException>(Action action, string named)
        where TException : Exception
    {
        TException error = Assert.Throws<TException>(action);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }
}
