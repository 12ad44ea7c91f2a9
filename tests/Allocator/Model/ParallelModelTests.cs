using System.Collections.Concurrent;
using CsCheck;
using Xunit;
using Xunit.Abstractions;

namespace NativeZcopy.Tests.Allocator.Model;

/// <summary>
/// CsCheck's linearizability check: Get, Put (double releases included) and Alloc run on several
/// threads against one tracking allocator; the outcome must equal the model run sequentially in at
/// least one order of the same operations.
/// </summary>
public sealed class ParallelModelTests(ITestOutputHelper output)
{
    [Fact]
    public void Concurrent_get_put_and_alloc_are_linearizable_against_the_model()
    {
        var created = new ConcurrentBag<SharedHeap>();
        Gen.Const(() =>
            {
                var heap = new SharedHeap();
                created.Add(heap);
                return (heap, new SharedModel());
            })
            .SampleParallel(
                [
                    Gen.Int[0, SharedHeap.RunIndex].Operation<SharedHeap, SharedModel>(
                        i => $"Get({i})", (heap, i) => heap.Touch(i, get: true), (model, i) => model.Touch(i, get: true)),
                    Gen.Int[0, SharedHeap.RunIndex].Operation<SharedHeap, SharedModel>(
                        i => $"Put({i})", (heap, i) => heap.Touch(i, get: false), (model, i) => model.Touch(i, get: false)),
                    Gen.Int[1, 1500].Operation<SharedHeap, SharedModel>(
                        size => $"Alloc({size})", (heap, size) => heap.Alloc(size), (model, _) => model.Allocated++),
                ],
                equal: (heap, model) => heap.Matches(model),
                iter: 150,
                writeLine: output.WriteLine);

        foreach (SharedHeap heap in created)
        {
            Assert.True(heap.ReleaseAllAndCheckNothingLeaks(), $"a heap leaked: {heap.Source.BytesMapped} bytes still mapped");
        }

        output.WriteLine($"{created.Count} heaps checked");
    }
}
