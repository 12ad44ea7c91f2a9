using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using NativeZcopy.Native;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Memory;

public sealed class ZcopyMemoryOwnerTests
{
    [Fact]
    public void Memory_works_with_ordinary_memory_apis_and_is_the_piece()
    {
        using var allocator = new ZcopyAllocator();
        BioVec piece = allocator.Alloc(300);
        using var owner = new ZcopyMemoryOwner(piece);
        Memory<byte> memory = owner.Memory;

        Assert.Equal(300, memory.Length);
        Assert.Equal(piece, owner.Piece);
        Assert.True(MemoryMarshal.TryGetMemoryManager<byte, ZcopyMemoryOwner>(memory, out ZcopyMemoryOwner? manager));
        Assert.Same(owner, manager);
        Assert.False(MemoryMarshal.TryGetArray<byte>(memory, out _));

        int written = Encoding.UTF8.GetBytes("native header", memory.Span);
        using var stream = new MemoryStream();
        stream.Write(memory.Span[..written]);
        Assert.Equal("native header", Encoding.UTF8.GetString(stream.ToArray()));

        memory.Slice(100, 50).Span.Fill(0xAB);
        Assert.True(piece.AsSpan().Slice(100, 50).IndexOfAnyExcept((byte)0xAB) < 0);
        Assert.Equal(0, piece.AsSpan()[150]);
    }

    [Fact]
    public unsafe void Pin_returns_the_native_address_and_keeps_the_owners_page_ref_past_its_dispose()
    {
        using var allocator = NoThreadCache();
        BioVec piece = allocator.Alloc(64);
        var owner = new ZcopyMemoryOwner(piece);

        // The arena still holds its share of the folio, so its address cannot be reissued meanwhile.
        int before = NativePages.RefCount(piece.Page);
        MemoryHandle first = owner.Memory.Slice(10).Pin();
        MemoryHandle second = owner.Pin();
        Assert.Equal(piece.Address + 10, (nint)first.Pointer);
        Assert.Equal(before, NativePages.RefCount(piece.Page)); // a pin counts on the owner, not on the page

        ((IDisposable)owner).Dispose();
        Assert.Equal(before, NativePages.RefCount(piece.Page)); // the pins keep the owner's reference
        first.Dispose();
        Assert.Equal(before, NativePages.RefCount(piece.Page));
        second.Dispose(); // the last pin after the dispose drops it
        Assert.Equal(before - 1, NativePages.RefCount(piece.Page));
        Assert.Throws<ObjectDisposedException>(() => owner.Pin());
    }

    [Fact]
    public unsafe void A_pinned_address_outlives_its_disposed_owner_until_the_handle_goes()
    {
        var allocator = new ZcopyAllocator();
        var owner = new ZcopyMemoryOwner(allocator.Alloc(32));
        owner.GetSpan().Fill(0x5A);
        MemoryHandle handle = owner.Pin();

        ((IDisposable)owner).Dispose();
        allocator.Dispose();

        // The arena and the owner have let go: only the pin keeps the folio.
        Assert.Equal(1, allocator.GetStatistics().LiveFolios);
        Assert.True(new ReadOnlySpan<byte>(handle.Pointer, 32).IndexOfAnyExcept((byte)0x5A) < 0);

        handle.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    [Fact]
    public async Task Pins_racing_a_dispose_release_the_owners_reference_exactly_once()
    {
        using var allocator = NoThreadCache();
        for (int round = 0; round < 600; round++)
        {
            BioVec piece = allocator.Alloc(64);
            int before = NativePages.RefCount(piece.Page);
            var owner = new ZcopyMemoryOwner(piece);
            using var start = new Barrier(4);
            var pinners = Enumerable.Range(0, 3).Select(_ => Task.Factory.StartNew(
                () =>
                {
                    // Eight pins held at a time, so the Dispose mostly lands with pins outstanding on every
                    // thread and their last Unpins race each other to drop the owner's reference.
                    var handles = new MemoryHandle[8];
                    start.SignalAndWait();
                    for (bool disposed = false; !disposed;)
                    {
                        int held = 0;
                        try
                        {
                            for (; held < handles.Length; held++)
                            {
                                handles[held] = owner.Pin();
                            }
                        }
                        catch (ObjectDisposedException)
                        {
                            disposed = true; // every later Pin is refused too: unpin what is held, then stop
                        }

                        for (int k = 0; k < held; k++)
                        {
                            handles[k].Dispose();
                        }
                    }
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning, // a thread each: the barrier waits for all four
                TaskScheduler.Default)).ToArray();

            start.SignalAndWait();
            Thread.SpinWait(round % 100 * 50); // the pinners run until the Dispose stops them
            ((IDisposable)owner).Dispose();
            await Task.WhenAll(pinners);
            Assert.Equal(before - 1, NativePages.RefCount(piece.Page));
        }
    }

    [Fact]
    public void Dispose_drops_the_ref_once_and_a_second_dispose_does_nothing()
    {
        using var allocator = NoThreadCache();
        BioVec piece = allocator.Alloc(64);
        IMemoryOwner<byte> owner = new ZcopyMemoryOwner(piece);
        int before = NativePages.RefCount(piece.Page);

        owner.Dispose();
        Assert.Equal(before - 1, NativePages.RefCount(piece.Page));
        owner.Dispose();
        Assert.Equal(before - 1, NativePages.RefCount(piece.Page));

        // Held by its own type, the owner disposes without a cast, the same way.
        BioVec second = allocator.Alloc(64);
        var typed = new ZcopyMemoryOwner(second);
        int held = NativePages.RefCount(second.Page);
        typed.Dispose();
        typed.Dispose();
        Assert.True(typed.IsDisposed);
        Assert.Equal(held - 1, NativePages.RefCount(second.Page));
    }

    [Fact]
    public void Racing_disposes_drop_each_ref_exactly_once()
    {
        using var allocator = NoThreadCache();
        var owners = new ZcopyMemoryOwner[20_000];
        for (int i = 0; i < owners.Length; i++)
        {
            owners[i] = new ZcopyMemoryOwner(allocator.Alloc(16));
        }

        // One extra ref per folio keeps every folio mapped, so its count can be read after the race.
        nint[] folios = owners.Select(o => o.Piece.Page).Distinct().ToArray();
        foreach (nint folio in folios)
        {
            NativePages.Get(folio);
        }

        Dictionary<nint, int> before = folios.ToDictionary(f => f, NativePages.RefCount);
        Dictionary<nint, int> pieces = owners.GroupBy(o => o.Piece.Page).ToDictionary(g => g.Key, g => g.Count());

        using var start = new Barrier(2);
        void DisposeAll()
        {
            start.SignalAndWait();
            foreach (IDisposable owner in owners)
            {
                owner.Dispose();
            }
        }

        // A broken dispose could throw on the other thread: carry that into the test instead of crashing the host.
        Exception? failure = null;
        var other = new Thread(() =>
        {
            try
            {
                DisposeAll();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        other.Start();
        DisposeAll();
        other.Join();
        Assert.Null(failure);

        foreach (nint folio in folios)
        {
            Assert.Equal(before[folio] - pieces[folio], NativePages.RefCount(folio));
            NativePages.Put(folio);
        }
    }

    [Fact]
    public void Everything_after_dispose_throws_ObjectDisposedException()
    {
        using var allocator = new ZcopyAllocator();
        var owner = new ZcopyMemoryOwner(allocator.Alloc(128));
        Memory<byte> kept = owner.Memory;
        ((IDisposable)owner).Dispose();

        Assert.True(owner.IsDisposed);
        Assert.Equal(128, owner.Length);
        Assert.Throws<ObjectDisposedException>(() => owner.Memory);
        Assert.Throws<ObjectDisposedException>(() => owner.GetSpan().Length);
        Assert.Throws<ObjectDisposedException>(() => kept.Span.Length);
        Assert.Throws<ObjectDisposedException>(() => kept.Slice(8).Span.Length);
        Assert.Throws<ObjectDisposedException>(() => kept.Pin());
        Assert.Throws<ObjectDisposedException>(() => owner.Piece);
        Assert.Throws<ObjectDisposedException>(() => kept.ToArray());
    }

    [Fact]
    public void Pin_outside_the_piece_is_refused_naming_the_index()
    {
        using var allocator = new ZcopyAllocator();
        using var owner = new ZcopyMemoryOwner(allocator.Alloc(10));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => owner.Pin(11));
        Assert.Contains("11", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => owner.Pin(-1));
        owner.Pin(10).Dispose();
    }

    [Fact]
    public void Constructor_refuses_an_empty_or_released_piece()
    {
        Assert.Equal("piece", Assert.Throws<ArgumentException>(() => new ZcopyMemoryOwner(default)).ParamName);

        // One arena, so every piece comes off the same folio. Once all its pieces are back and it is full,
        // the folio is reissued in place under a new generation: the old piece is stale.
        using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { ThreadCache = false }, PageSource.Os, processors: 1);
        BioVec stale = allocator.Alloc(8);
        NativePages.Put(stale);
        NativePages.Put(allocator.Alloc(allocator.MaxFragmentSize));
        BioVec reissued = allocator.Alloc(allocator.MaxFragmentSize);
        Assert.Equal(stale.Page, reissued.Page);

        // A released piece is refused as ZcopyMessage.Add and NativePages refuse one: InvalidOperationException.
        var error = Assert.Throws<InvalidOperationException>(() => new ZcopyMemoryOwner(stale));
        Assert.Contains("already released", error.Message, StringComparison.Ordinal);
        NativePages.Put(reissued);

        // With tracking, a released piece of a folio other pieces still hold is refused too: an owner would
        // release it a second time.
        using var tracked = new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = true });
        BioVec released = tracked.Alloc(64);
        BioVec neighbour = tracked.Alloc(64);
        NativePages.Put(released);
        Assert.Contains("already released", Assert.Throws<InvalidOperationException>(() => new ZcopyMemoryOwner(released)).Message, StringComparison.Ordinal);
        NativePages.Put(neighbour);
        Assert.Empty(tracked.GetOutstandingFragments());
    }
    [Fact]
    public void With_the_thread_cache_each_dispose_gives_its_ref_back_once()
    {
        // Disposes on the allocating thread go back into its slice's share, invisible to RefCount: the
        // folio's fate shows it instead. One ref too many taken back keeps the folio mapped forever (the
        // count never meets zero); one too few unmaps it under the still-pinned piece.
        var allocator = new ZcopyAllocator();
        Assert.True(allocator.ThreadCache);
        var owners = new ZcopyMemoryOwner[200];
        for (int i = 0; i < owners.Length; i++)
        {
            owners[i] = new ZcopyMemoryOwner(allocator.Alloc(48));
        }

        MemoryHandle pin = owners[^1].Pin();
        foreach (IDisposable owner in owners)
        {
            owner.Dispose();
            owner.Dispose();
        }

        allocator.Dispose();
        Assert.Equal(1, allocator.GetStatistics().LiveFolios);
        pin.Dispose();
        Assert.Equal(0, allocator.GetStatistics().LiveFolios);
    }

    [Fact]
    public void An_unpin_with_no_pin_outstanding_is_refused_and_leaves_the_owners_reference_alone()
    {
        // Two pieces hold a folio and nothing else does (the arena moved on and gave its share back). A
        // copy of a handle disposed as well as the original, or a direct Unpin, must not drop the owner's
        // own reference: the owner's Dispose would then release the folio under the other renter's piece.
        using var allocator = LastReferenceOfAFolio.NewAllocator(PageSource.Os);
        BioVec mine = allocator.Alloc(LastReferenceOfAFolio.PieceLength);
        BioVec theirs = allocator.Alloc(LastReferenceOfAFolio.PieceLength);
        BioVec onTheNextFolio = allocator.Alloc(LastReferenceOfAFolio.PieceLength);
        Assert.Equal(mine.Page, theirs.Page);
        Assert.NotEqual(mine.Page, onTheNextFolio.Page);
        allocator.Trim();
        NativePages.Put(onTheNextFolio);
        Assert.Equal(2, NativePages.RefCount(mine.Page));

        var owner = new ZcopyMemoryOwner(mine);
        MemoryHandle handle = owner.Memory.Pin();
        MemoryHandle copy = handle;
        handle.Dispose();
        Assert.Throws<InvalidOperationException>(() => copy.Dispose());
        Assert.Throws<InvalidOperationException>(() => ((IPinnable)owner).Unpin());
        Assert.Equal(2, NativePages.RefCount(mine.Page));

        ((IDisposable)owner).Dispose();
        Assert.Equal(1, NativePages.RefCount(theirs.Page));
        theirs.AsSpan().Fill(0x77); // still mapped, still theirs
        NativePages.Put(theirs);
    }

    /// <summary>
    /// An allocator whose pieces all come from arenas and go back to the folio's shared count, so tests can
    /// read exact reference counts with <see cref="NativePages.RefCount"/>.
    /// </summary>
    private static ZcopyAllocator NoThreadCache() => new(new ZcopyAllocatorOptions { ThreadCache = false });

    [Fact]
    public void Pin_of_a_disposed_owner_is_refused_as_disposed_whatever_the_index()
    {
        using var allocator = new ZcopyAllocator();
        var owner = new ZcopyMemoryOwner(allocator.Alloc(10));
        owner.Dispose();
        Assert.Throws<ObjectDisposedException>(() => owner.Pin(0));
        Assert.Throws<ObjectDisposedException>(() => owner.Pin(11));
        Assert.Throws<ObjectDisposedException>(() => owner.Pin(-1));
    }
}
