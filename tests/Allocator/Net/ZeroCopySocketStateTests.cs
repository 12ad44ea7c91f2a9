using System;
using NativeZcopy.Net;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Net;

/// <summary>
/// The crediting of MSG_ZEROCOPY completion ranges to pending messages, on laid-out numbers: the kernel's
/// counter wrapping past 2^32, messages that took no number, gaps left by messages already released.
/// </summary>
public sealed class ZeroCopySocketStateTests
{
    [Theory]
    [InlineData(10u, 5u, 10u, 14u, 5u)] // exactly the message
    [InlineData(10u, 5u, 0u, 9u, 0u)] // before it
    [InlineData(10u, 5u, 15u, 20u, 0u)] // after it
    [InlineData(10u, 5u, 12u, 30u, 3u)] // its tail
    [InlineData(10u, 5u, 3u, 11u, 2u)] // its head
    [InlineData(4294967294u, 4u, 4294967295u, 0u, 2u)] // a message across 2^32, a range across it too
    [InlineData(4294967294u, 4u, 4294967290u, 5u, 4u)] // a range across 2^32 covering all of it
    [InlineData(2u, 3u, 4294967290u, 2u, 1u)] // a range across 2^32 meeting the head of a message after it
    [InlineData(10u, 0u, 0u, 4294967295u, 0u)] // a message that took no number
    public void Overlap_counts_the_messages_numbers_in_the_range(uint firstId, uint ids, uint first, uint last, uint expected)
    {
        var send = new PendingZeroCopySend { FirstId = firstId, Ids = ids };
        Assert.Equal(expected, send.Overlap(first, last));
    }

    [Fact]
    public void Credit_gives_each_message_what_a_walk_over_every_message_gives_and_says_when_one_finished()
    {
        var random = new Random(20261202);
        for (int round = 0; round < 4_000; round++)
        {
            // The oldest first number anywhere, often just below 2^32 so the runs cross it.
            uint origin = round % 3 == 0 ? uint.MaxValue - (uint)random.Next(0, 40) : (uint)random.NextInt64(0, 1L << 32);
            PendingZeroCopySend[] pending = LayOut(random, origin, random.Next(1, 40));
            PendingZeroCopySend[] walked = (PendingZeroCopySend[])pending.Clone();

            for (int k = 0; k < 6; k++)
            {
                // Ranges near the runs: inside, across several, before the oldest (released numbers), long.
                uint first = origin + (uint)random.Next(-20, 200);
                uint last = first + (uint)(random.Next(4) == 0 ? random.Next(0, 400) : random.Next(0, 6));
                bool finished = ZeroCopySocketState.Credit(pending, first, last);
                bool walkFinished = false;
                foreach (ref PendingZeroCopySend send in walked.AsSpan())
                {
                    uint share = send.Overlap(first, last);
                    send.Completed += share;
                    walkFinished |= share != 0 && send.Closed && send.Completed >= send.Ids;
                }

                Assert.True(walkFinished == finished, $"round {round}, range {first}..{last}: Credit said {finished} for a closed message finished");
            }

            for (int i = 0; i < pending.Length; i++)
            {
                Assert.True(
                    walked[i].Completed == pending[i].Completed,
                    $"round {round}, message {i} of {pending.Length} (first {pending[i].FirstId}, {pending[i].Ids} numbers): credited {pending[i].Completed}, the walk gives {walked[i].Completed}");
            }
        }
    }

    [Fact]
    public void Credit_of_a_range_wrapping_past_the_oldest_number_counts_each_message_once()
    {
        // Two messages spanning all but 4 of the 2^32 numbers (96-99 free): the range [95, 101] wraps past the
        // oldest number (100) and meets the first message's head and the second's tail.
        const uint Origin = 100;
        PendingZeroCopySend[] pending =
        [
            new() { FirstId = Origin, Ids = 2_000_000_000 },
            new() { FirstId = Origin + 2_000_000_000, Ids = uint.MaxValue - 2_000_000_003 },
        ];
        Assert.False(ZeroCopySocketState.Credit(pending, 95, 101)); // open messages: nothing to release
        Assert.Equal(2u, pending[0].Completed);
        Assert.Equal(1u, pending[1].Completed);

        // One message holding all but 98 and 99: the wrapping range [97, 101] meets it at both ends, and both
        // halves of the search find it. It is credited its 3 numbers once.
        PendingZeroCopySend[] single = [new() { FirstId = Origin, Ids = uint.MaxValue - 1, Closed = true }];
        Assert.False(ZeroCopySocketState.Credit(single, 97, 101));
        Assert.Equal(3u, single[0].Completed);

        // A closed message credited its last numbers says so.
        PendingZeroCopySend[] closing = [new() { FirstId = Origin, Ids = 3, Closed = true, Completed = 1 }];
        Assert.True(ZeroCopySocketState.Credit(closing, Origin, Origin + 1));
    }

    [Fact]
    public void Credit_reaches_messages_numbered_after_the_counter_came_round_past_a_message_still_pending()
    {
        // The oldest message's completion was lost (a truncated error-queue entry), so it stays pending while the
        // socket makes 2^32 more calls: the newest messages' numbers come round past its own, and as offsets from
        // it they wrap to small values behind ones near 2^32. A search on the runs' ends then stops at the
        // message near 2^32 and credits nothing to the newest, which stays pending until the socket closes; a
        // walk over every message credits it its two numbers.
        const long Round = 1L << 32;
        PendingZeroCopySend[] pending =
        [
            new() { FirstId = 100, FirstCall = 100, Ids = 1, Closed = true },
            new() { FirstId = 90, FirstCall = Round + 90, Ids = 5, Closed = true },
            new() { FirstId = 95, FirstCall = Round + 95, Ids = 10, Closed = true },
            new() { FirstId = 105, FirstCall = Round + 105, Ids = 2, Closed = true },
        ];
        PendingZeroCopySend[] walked = (PendingZeroCopySend[])pending.Clone();

        bool finished = ZeroCopySocketState.Credit(pending, 105, 106);
        foreach (ref PendingZeroCopySend send in walked.AsSpan())
        {
            send.Completed += send.Overlap(105, 106);
        }

        for (int i = 0; i < pending.Length; i++)
        {
            Assert.True(walked[i].Completed == pending[i].Completed, $"message {i}: credited {pending[i].Completed}, the walk gives {walked[i].Completed}");
        }

        Assert.True(finished, "the newest message got its last numbers, but Credit said nothing finished");
    }

    /// <summary>
    /// Pending messages as a socket holds them: runs in increasing order from <paramref name="origin"/>, some
    /// with no number, with gaps where messages between them completed and left.
    /// </summary>
    private static PendingZeroCopySend[] LayOut(Random random, uint origin, int count)
    {
        var pending = new PendingZeroCopySend[count];
        uint next = origin;
        for (int i = 0; i < count; i++)
        {
            uint ids = (uint)(random.Next(5) == 0 ? 0 : random.Next(1, 6));
            pending[i] = new PendingZeroCopySend { FirstId = next, Ids = ids, Closed = i < count - 1 || random.Next(2) == 0 };
            next += ids + (uint)(i > 0 && random.Next(4) == 0 ? random.Next(1, 8) : 0); // a released message's run
        }

        return pending;
    }
}
