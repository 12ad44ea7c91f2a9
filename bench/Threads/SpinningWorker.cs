using System;
using System.Threading;

namespace NativeZcopy.Bench.Threads;

/// <summary>
/// A second thread that runs one job each time it is told to, for the scenarios that need two threads
/// really at once. It waits for work by spinning (yielding its core, never sleeping a timer tick), so a
/// request starts within microseconds and the benchmark thread's measured time covers both threads' work.
/// </summary>
/// <remarks>
/// The benchmark thread owns <see cref="_requested"/>, the worker owns <see cref="_completed"/>; each
/// writes its own with a volatile write and reads the other's with a volatile read. A job runs strictly
/// between its request and its completion, so the benchmark thread may read the job's results after
/// <see cref="Wait"/>.
/// </remarks>
internal sealed class SpinningWorker : IDisposable
{
    private readonly Action _job;
    private readonly Thread _thread;
    private long _requested;
    private long _completed;
    private volatile bool _stopping;

    /// <summary>Starts the worker thread; it runs <paramref name="job"/> once per <see cref="Start"/>.</summary>
    public SpinningWorker(Action job, string name)
    {
        _job = job;
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Asks the worker to run its job once more.</summary>
    /// <exception cref="ObjectDisposedException">The worker was stopped: <see cref="Wait"/> would spin forever.</exception>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        Volatile.Write(ref _requested, _requested + 1);
    }

    /// <summary>Waits until every requested job has run.</summary>
    public void Wait()
    {
        SpinWait spinner = default;
        while (Volatile.Read(ref _completed) != _requested)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>Stops the thread and waits for it.</summary>
    public void Dispose()
    {
        _stopping = true;
        _thread.Join();
    }

    private void Loop()
    {
        SpinWait spinner = default;
        while (!_stopping)
        {
            if (Volatile.Read(ref _requested) == _completed)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
                continue;
            }

            _job();
            Volatile.Write(ref _completed, _completed + 1);
            spinner.Reset();
        }
    }
}
