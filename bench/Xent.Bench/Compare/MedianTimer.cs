using System.Diagnostics;

namespace Xent.Bench.Compare;

/// <summary>Median wall times: one untimed warm-up, then runs until both a minimum count and a time budget are met.</summary>
internal static class MedianTimer
{
    private const int MaxRuns = 15;

    /// <summary>The times of <see cref="Interleaved"/>: <c>Times[action][round]</c> in milliseconds.</summary>
    public sealed class Rounds(List<double>[] times)
    {
        public int Count => times[0].Count;

        /// <summary>The median time of one action, in milliseconds.</summary>
        public double Median(int action) => MedianTimer.Median(times[action]);

        /// <summary>The median over rounds of time[<paramref name="numerator"/>] / time[<paramref name="denominator"/>]
        /// (times <paramref name="scale"/>): each ratio pairs two runs a few milliseconds apart, under the same load.</summary>
        public double MedianRatio(int numerator, int denominator, double scale = 1) =>
            MedianTimer.Median(times[numerator].Zip(times[denominator], (a, b) => a / (b * scale)).ToList());
    }

    /// <summary>A median in milliseconds and how many timed runs it is the median of.</summary>
    public readonly record struct Timing(double Ms, int Runs);

    /// <summary>Times several actions in turns (a, b, c, a, b, c, …): every round times each action once.</summary>
    /// <remarks>
    /// On a machine shared with other work the available bandwidth and CPU drift within seconds; taking the floors and
    /// the kernels in turns exposes them to the same drift, and the ratio of two actions is taken round by round
    /// (see <see cref="Rounds.MedianRatio"/>), so it holds even when the absolute times do not.
    /// At least <paramref name="minRounds"/> rounds (5: one preempted run cannot set a median), more while the budget lasts.
    /// </remarks>
    public static Rounds Interleaved(IReadOnlyList<Action> actions, TimeSpan budget, int minRounds = 5, int maxRounds = MaxRuns)
    {
        foreach (var action in actions)
        {
            action(); // warm-up: first-touch, caches, tiering of anything not yet promoted
        }

        var times = actions.Select(_ => new List<double>(maxRounds)).ToArray();
        var watch = new Stopwatch();
        var total = Stopwatch.StartNew();
        for (int round = 0; round < maxRounds && (round < minRounds || total.Elapsed < budget); round++)
        {
            for (int a = 0; a < actions.Count; a++)
            {
                watch.Restart();
                actions[a]();
                times[a].Add(watch.Elapsed.TotalMilliseconds);
            }
        }

        return new Rounds(times);
    }

    /// <summary>The median of one action in milliseconds.</summary>
    /// <remarks>
    /// At least three timed runs, so one preempted run (two cores, a busy machine) cannot set the result; when a single
    /// run already exceeds the whole budget it settles for two, and when the warm-up alone exceeds
    /// <paramref name="singleRunCap"/> it reports that one run (libtorch's fp16 path can take many seconds a call, and the
    /// whole comparison is time-boxed).
    /// </remarks>
    public static Timing Measure(Action action, TimeSpan budget, TimeSpan? singleRunCap = null)
    {
        var watch = Stopwatch.StartNew();
        action();
        double warmUp = watch.Elapsed.TotalMilliseconds;
        if (singleRunCap is { } cap && warmUp > cap.TotalMilliseconds)
        {
            return new Timing(warmUp, 1);
        }

        int minRuns = warmUp > budget.TotalMilliseconds ? 2 : 3;
        var times = new List<double>(MaxRuns);
        var total = Stopwatch.StartNew();
        while (times.Count < MaxRuns && (times.Count < minRuns || total.Elapsed < budget))
        {
            watch.Restart();
            action();
            times.Add(watch.Elapsed.TotalMilliseconds);
        }

        return new Timing(Median(times), times.Count);
    }

    private static double Median(List<double> values)
    {
        var times = values.ToList();
        times.Sort();
        int mid = times.Count / 2;
        return times.Count % 2 == 1 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
    }
}
