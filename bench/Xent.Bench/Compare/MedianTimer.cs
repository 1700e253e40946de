using System.Diagnostics;

namespace Xent.Bench.Compare;

/// <summary>Median wall time of an action: one untimed warm-up, then runs until both a minimum count and a time budget are met.</summary>
internal static class MedianTimer
{
    private const int MaxRuns = 15;

    /// <summary>Returns the median in milliseconds.</summary>
    /// <remarks>
    /// At least three timed runs, so one preempted run (two cores, a busy machine) cannot set the result; only
    /// when a single run already exceeds the whole budget does it settle for two, which keeps the libtorch
    /// forward+backward at 4096 x 32000 (about 1.5 s here) from dominating the time-box.
    /// </remarks>
    public static double MedianMs(Action action, TimeSpan budget)
    {
        var watch = Stopwatch.StartNew();
        action();
        double warmUp = watch.Elapsed.TotalMilliseconds;
        int minRuns = warmUp > budget.TotalMilliseconds ? 2 : 3;

        var times = new List<double>(MaxRuns);
        var total = Stopwatch.StartNew();
        while (times.Count < MaxRuns && (times.Count < minRuns || total.Elapsed < budget))
        {
            watch.Restart();
            action();
            times.Add(watch.Elapsed.TotalMilliseconds);
        }

        times.Sort();
        int mid = times.Count / 2;
        return times.Count % 2 == 1 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
    }
}
