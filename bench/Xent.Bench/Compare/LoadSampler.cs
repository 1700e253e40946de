using System.Globalization;

namespace Xent.Bench.Compare;

/// <summary>The 1-minute load average, sampled between measurements, so a report can say how busy the machine was.</summary>
internal sealed class LoadSampler
{
    private readonly List<double> _samples = [];

    /// <summary>Reads and records the load average; null where there is no <c>/proc/loadavg</c>.</summary>
    public double? Sample()
    {
        double? load = Read();
        if (load is { } value)
        {
            _samples.Add(value);
        }

        return load;
    }

    /// <summary>"min … / mean … / max …" over the samples taken.</summary>
    public string Summary => _samples.Count == 0
        ? "not available"
        : string.Create(CultureInfo.InvariantCulture, $"min {_samples.Min():0.00}, mean {_samples.Average():0.00}, max {_samples.Max():0.00} ({_samples.Count} samples)");

    public static double? Read()
    {
        try
        {
            string text = File.ReadAllText("/proc/loadavg");
            return double.Parse(text.Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null; // not Linux, or no procfs: nothing to report
        }
    }
}
