using System.Threading.Tasks;
using NativeZcopy.Arenas;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Arenas;

public sealed class StripedCounterTests
{
    [Fact]
    public void Adds_from_many_threads_sum_exactly_once_they_are_done()
    {
        var counter = new StripedCounter();
        Parallel.For(0, 8, worker =>
        {
            for (int i = 0; i < 100_000; i++)
            {
                counter.Add(worker % 2 == 0 ? 3 : -1);
            }
        });

        // 4 workers add 3 and 4 add -1, 100,000 times each, on whatever processors they ran.
        Assert.Equal((4 * 3 * 100_000L) - (4 * 100_000L), counter.Sum);
    }
}
