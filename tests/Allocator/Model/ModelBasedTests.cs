using System;
using System.Collections.Concurrent;
using CsCheck;
using Xunit;
using Xunit.Abstractions;

namespace NativeZcopy.Tests.Allocator.Model;

/// <summary>
/// Random sequences of Alloc, MemDup, NativePages.Alloc, Get, Put (by piece and by interior address,
/// double releases included) and Dispose, checked after every step against <see cref="HeapModel"/>,
/// then the shrunk counter-example if any. Single-threaded; see <see cref="ParallelModelTests"/> for
/// the linearizability check.
/// </summary>
public sealed class ModelBasedTests(ITestOutputHelper output)
{
    [Fact]
    public void Random_operation_sequences_match_the_reference_model_and_leak_nothing()
    {
        var created = new ConcurrentBag<RealHeap>();
        Gen.Const(() =>
            {
                var heap = new RealHeap();
                created.Add(heap);
                return (heap, new HeapModel());
            })
            .SampleModelBased(
                [
                    Gen.Int[1, 2048].Operation<RealHeap, HeapModel>(
                        size => $"Alloc({size})",
                        (heap, size) => Allocate(heap, () => heap.Allocator.Alloc(size)),
                        (model, size) => AllocateModel(model, size)),
                    Gen.Int[1, 700].Operation<RealHeap, HeapModel>(
                        size => $"MemDup({size})",
                        (heap, size) => Allocate(heap, () => heap.Allocator.MemDup(new byte[size])),
                        (model, size) => AllocateModel(model, size)),
                    Gen.Int[1, 3 * 4096].Operation<RealHeap, HeapModel>(
                        size => $"NativePages.Alloc({size})",
                        (heap, size) => heap.Add(NativePages.Alloc(size, heap.Runs), isRun: true),
                        (model, size) => model.Pieces.Add(new ModelPiece(size, (byte)model.Pieces.Count, isRun: true))),
                    Gen.Int.Positive.Operation<RealHeap, HeapModel>(
                        pick => $"Get({pick})",
                        (heap, pick) => Touch(heap, pick, get: true),
                        (model, pick) => TouchModel(model, pick, get: true)),
                    Gen.Int.Positive.Operation<RealHeap, HeapModel>(
                        pick => $"Put({pick})",
                        (heap, pick) => Touch(heap, pick, get: false),
                        (model, pick) => TouchModel(model, pick, get: false)),
                    Gen.Operation<RealHeap, HeapModel>(
                        "Dispose()",
                        heap => heap.Allocator.Dispose(),
                        model => model.Disposed = true),
                ],
                equal: (heap, model) => heap.Matches(model),
                iter: 200,
                writeLine: output.WriteLine);

        foreach (RealHeap heap in created)
        {
            Assert.True(heap.ReleaseAllAndCheckNothingLeaks(), $"a heap leaked: {heap.Source.BytesMapped} bytes still mapped");
        }

        output.WriteLine($"{created.Count} heaps checked");
    }

    private static void Allocate(RealHeap heap, Func<BioVec> alloc)
    {
        BioVec piece;
        try
        {
            piece = alloc();
        }
        catch (ObjectDisposedException)
        {
            heap.Refused++;
            return;
        }

        heap.Add(piece, isRun: false);
    }

    private static void AllocateModel(HeapModel model, int size)
    {
        if (model.Disposed)
        {
            model.Refused++;
            return;
        }

        model.Pieces.Add(new ModelPiece(size, (byte)model.Pieces.Count, isRun: false));
        model.Fragments++;
    }

    /// <summary>
    /// A Get or Put of piece <c>pick % count</c>. While the user holds a ref it goes by an interior address
    /// or by the piece; once it holds none it goes by the piece only (a stale address may already be
    /// another run's, which no library can tell) and must be refused.
    /// </summary>
    private static void Touch(RealHeap heap, int pick, bool get)
    {
        if (heap.Pieces.Count == 0)
        {
            return;
        }

        int index = pick % heap.Pieces.Count;
        BioVec piece = heap.Pieces[index].Piece;
        if (heap.Held[index] == 0)
        {
            heap.Refuse(get ? () => NativePages.Get(piece) : () => NativePages.Put(piece));
            return;
        }

        nint interior = piece.Address + ((pick >> 8) % piece.Length);
        switch ((get, (pick >> 4) % 2 == 0))
        {
            case (true, true): NativePages.Get(interior); break;
            case (true, false): NativePages.Get(piece); break;
            case (false, true): NativePages.Put(interior); break;
            default: NativePages.Put(piece); break;
        }

        heap.Held[index] += get ? 1 : -1;
    }

    private static void TouchModel(HeapModel model, int pick, bool get)
    {
        if (model.Pieces.Count == 0)
        {
            return;
        }

        ModelPiece piece = model.Pieces[pick % model.Pieces.Count];
        if (piece.Refs == 0)
        {
            model.Refused++;
            return;
        }

        piece.Refs += get ? 1 : -1;
    }
}
