using System;
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// One thread that runs the steps it is given, one at a time, while the test waits: for tests about what a
/// thread keeps between calls (its slice, its deferred releases), where each step must run on the same
/// thread and the test checks state in between.
/// </summary>
internal sealed class DedicatedThread : IDisposable
{
    private readonly BlockingCollection<(Action Step, ManualResetEventSlim Done, ExceptionDispatchInfo?[] Failure)> _steps = new();
    private readonly Thread _thread;
    private bool _disposed;

    public DedicatedThread()
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = "test dedicated thread" };
        _thread.Start();
    }

    /// <summary>True while the thread runs (false once <see cref="Dispose"/> has returned).</summary>
    public bool IsAlive => _thread.IsAlive;

    /// <summary>Runs <paramref name="step"/> on the thread and waits for it; rethrows what it threw.</summary>
    public void Run(Action step)
    {
        using var done = new ManualResetEventSlim();
        var failure = new ExceptionDispatchInfo?[1];
        _steps.Add((step, done, failure));
        done.Wait();
        failure[0]?.Throw();
    }

    /// <summary>Ends the thread and waits until it has exited. Idempotent.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _steps.CompleteAdding();
        _thread.Join();
        _steps.Dispose();
    }

    private void Loop()
    {
        foreach ((Action step, ManualResetEventSlim done, ExceptionDispatchInfo?[] failure) in _steps.GetConsumingEnumerable())
        {
            try
            {
                step();
            }
            catch (Exception error)
            {
                failure[0] = ExceptionDispatchInfo.Capture(error);
            }

            done.Set();
        }
    }
}
