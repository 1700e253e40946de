using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Xent.Cli.Npy;

namespace Xent.Cli.Eval;

/// <summary>The three forms of an eval result: a text summary, one JSON object, and a self-contained HTML report.</summary>
internal static class EvalOutput
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void WriteText(TextWriter o, EvalResult r)
    {
        EvalStats st = r.Stats;
        EvalSettings s = r.Settings;
        o.WriteLine($"eval: logits {CliFormat.ShapeString(r.Logits.Shape)} {r.Logits.DTypeName} ({r.Logits.Source}), targets {CliFormat.ShapeString(r.Targets.Shape)} {r.Targets.DTypeName} ({r.Targets.Source})");
        o.WriteLine($"  ignore_index {s.IgnoreIndex}, label_smoothing {s.LabelSmoothing.ToString(Inv)}" + (s.Weight is null ? string.Empty : $", weight {s.Weight}"));
        o.WriteLine($"  positions       {st.Positions} ({st.Evaluated} evaluated, {st.Ignored} ignored)");
        o.WriteLine($"  mean loss       {r.MeanLossText}");
        o.WriteLine($"  perplexity      {Number(Math.Exp(st.MeanLoss))}");
        o.WriteLine($"  top-1 accuracy  {Ratio(st.Top1, st.Evaluated)}");
        o.WriteLine($"  top-5 accuracy  {Ratio(st.Top5, st.Evaluated)}");
        if (st.Histogram.NonFinite > 0)
        {
            o.WriteLine($"  non-finite      {st.Histogram.NonFinite} positions have a NaN or infinite loss");
        }

        if (r.WorstClasses.Count > 0)
        {
            o.WriteLine();
            o.WriteLine($"  worst {r.WorstClasses.Count} of {st.ClassesWithSupport} classes with support, by mean loss:");
            o.WriteLine($"  {"class",10} {"support",12} {"mean loss",12} {"top-1 acc",10}");
            foreach (ClassRow row in r.WorstClasses)
            {
                o.WriteLine($"  {row.Class,10} {row.Support,12} {Number(row.MeanLoss),12} {row.Accuracy.ToString("F4", Inv),10}");
            }
        }
    }

    public static void WriteJson(TextWriter o, EvalResult r)
    {
        EvalStats st = r.Stats;
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("logits", r.Logits.Source);
            w.WriteString("targets", r.Targets.Source);
            WriteShape(w, "logits_shape", r.Logits.Shape);
            w.WriteString("logits_dtype", r.Logits.DTypeName);
            w.WriteString("targets_dtype", r.Targets.DTypeName);
            w.WriteNumber("ignore_index", r.Settings.IgnoreIndex);
            WriteDouble(w, "label_smoothing", r.Settings.LabelSmoothing);
            w.WriteBoolean("weighted", r.Settings.Weight is not null);
            w.WriteNumber("positions", st.Positions);
            w.WriteNumber("evaluated", st.Evaluated);
            w.WriteNumber("ignored", st.Ignored);
            WriteDouble(w, "mean_loss", r.MeanLoss);
            WriteDouble(w, "perplexity", Math.Exp(st.MeanLoss));
            WriteDouble(w, "loss_sum", st.LossSum);
            WriteDouble(w, "total_weight", st.TotalWeight);
            WriteDouble(w, "top1_accuracy", (double)st.Top1 / st.Evaluated);
            WriteDouble(w, "top5_accuracy", (double)st.Top5 / st.Evaluated);
            w.WriteNumber("top1_correct", st.Top1);
            w.WriteNumber("top5_correct", st.Top5);
            w.WriteNumber("non_finite_losses", st.Histogram.NonFinite);
            w.WriteStartArray("worst_classes");
            foreach (ClassRow row in r.WorstClasses)
            {
                w.WriteStartObject();
                w.WriteNumber("class", row.Class);
                w.WriteNumber("support", row.Support);
                WriteDouble(w, "mean_loss", row.MeanLoss);
                WriteDouble(w, "accuracy", row.Accuracy);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        o.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    /// <summary>Writes the HTML report to a temporary file beside <paramref name="path"/>, which the caller renames over
    /// it (<see cref="AtomicFile.Commit"/>) once everything else has succeeded, or disposes to leave nothing.</summary>
    public static AtomicFile CreateHtml(string path, EvalResult r)
    {
        AtomicFile file = CliFiles.CreateOutput(path);

        try
        {
            using (var writer = new StreamWriter(file.Stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true))
            {
                writer.Write(Html(r));
            }

            file.Flush();
            return file;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string message = file.Describe(e);
            file.Dispose();
            throw new CliException(message);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The report: HTML5 that is also well-formed XML, with inline SVG charts and no external assets.</summary>
    internal static string Html(EvalResult r)
    {
        EvalStats st = r.Stats;
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
        h.Append($"<title>xent eval: {E(r.Logits.Source)}</title>\n");
        h.Append("<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}" +
            "td,th{padding:2px 10px;text-align:right}th{border-bottom:1px solid #999}td.k{text-align:left;color:#555}" +
            "svg text{font-size:11px;fill:#333}</style>\n</head>\n<body>\n");
        h.Append("<h1>xent eval</h1>\n<table class=\"summary\">\n");
        Row(h, "logits", $"{E(r.Logits.Source)} {CliFormat.ShapeString(r.Logits.Shape)} {r.Logits.DTypeName}");
        Row(h, "targets", $"{E(r.Targets.Source)} {CliFormat.ShapeString(r.Targets.Shape)} {r.Targets.DTypeName}");
        Row(h, "options", E($"ignore_index {r.Settings.IgnoreIndex}, label_smoothing {r.Settings.LabelSmoothing.ToString(Inv)}" +
            (r.Settings.Weight is null ? string.Empty : $", weight {r.Settings.Weight}")));
        Row(h, "positions", $"{st.Positions} ({st.Evaluated} evaluated, {st.Ignored} ignored)");
        Row(h, "mean loss", r.MeanLossText);
        Row(h, "perplexity", Number(Math.Exp(st.MeanLoss)));
        Row(h, "top-1 accuracy", Ratio(st.Top1, st.Evaluated));
        Row(h, "top-5 accuracy", Ratio(st.Top5, st.Evaluated));
        h.Append("</table>\n");

        h.Append("<h2>Per-position loss</h2>\n");
        Histogram(h, st.Histogram);
        if (r.WorstClasses.Count > 0)
        {
            h.Append($"<h2>Worst {r.WorstClasses.Count} of {st.ClassesWithSupport} classes by mean loss</h2>\n");
            ClassBars(h, r.WorstClasses);
            h.Append("<table class=\"classes\">\n<tr><th>class</th><th>support</th><th>mean loss</th><th>top-1 accuracy</th></tr>\n");
            foreach (ClassRow row in r.WorstClasses)
            {
                h.Append($"<tr><td>{row.Class}</td><td>{row.Support}</td><td>{Number(row.MeanLoss)}</td><td>{row.Accuracy.ToString("F4", Inv)}</td></tr>\n");
            }

            h.Append("</table>\n");
        }

        h.Append("</body>\n</html>\n");
        return h.ToString();
    }

    private static void Histogram(StringBuilder h, LossHistogram histogram)
    {
        (double barWidth, long[] counts) = histogram.Bars(60);
        string notes = (histogram.NonFinite > 0 ? $" {histogram.NonFinite} non-finite losses are not shown." : string.Empty) +
            (histogram.Negative > 0 ? $" {histogram.Negative} negative losses are not shown." : string.Empty);
        if (counts.Length == 0)
        {
            h.Append($"<p>No evaluated positions.{E(notes)}</p>\n");
            return;
        }

        const int width = 720, height = 240, left = 50, bottom = 30, top = 10;
        long max = counts.Max();
        double bar = (double)(width - left - 10) / counts.Length;
        h.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"histogram\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\">\n");
        h.Append($"<title>Histogram of {histogram.Binned} per-position losses, bins of width {Number(barWidth)}</title>\n");
        for (int i = 0; i < counts.Length; i++)
        {
            double barHeight = max == 0 ? 0 : (double)counts[i] / max * (height - bottom - top);
            string x = (left + (i * bar)).ToString("F1", Inv);
            string y = (height - bottom - barHeight).ToString("F1", Inv);
            h.Append($"<rect x=\"{x}\" y=\"{y}\" width=\"{Math.Max(0.5, bar - 1).ToString("F1", Inv)}\" height=\"{barHeight.ToString("F1", Inv)}\" fill=\"#4a7ab5\">" +
                $"<title>[{Number(i * barWidth)}, {Number((i + 1) * barWidth)}): {counts[i]}</title></rect>\n");
        }

        h.Append($"<line x1=\"{left}\" y1=\"{height - bottom}\" x2=\"{width - 10}\" y2=\"{height - bottom}\" stroke=\"#333\"/>\n");
        h.Append($"<text x=\"{left}\" y=\"{height - bottom + 15}\">0</text>\n");
        h.Append($"<text x=\"{width - 10}\" y=\"{height - bottom + 15}\" text-anchor=\"end\">{Number(counts.Length * barWidth)}</text>\n");
        h.Append($"<text x=\"{(left + width) / 2}\" y=\"{height - 3}\" text-anchor=\"middle\">loss</text>\n");
        h.Append($"<text x=\"{left - 5}\" y=\"{top + 10}\" text-anchor=\"end\">{max}</text>\n");
        h.Append("</svg>\n");
        if (notes.Length > 0)
        {
            h.Append($"<p>{E(notes.Trim())}</p>\n");
        }
    }

    private static void ClassBars(StringBuilder h, IReadOnlyList<ClassRow> rows)
    {
        const int width = 720, rowHeight = 18, left = 90, right = 80;
        int height = (rows.Count * rowHeight) + 10;
        double max = rows.Select(r => r.MeanLoss).Where(double.IsFinite).DefaultIfEmpty(0).Max();
        h.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"classes\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\">\n");
        h.Append("<title>Mean loss of the worst classes</title>\n");
        for (int i = 0; i < rows.Count; i++)
        {
            ClassRow row = rows[i];
            double length = max > 0 && double.IsFinite(row.MeanLoss) && row.MeanLoss > 0 ? row.MeanLoss / max * (width - left - right) : 0;
            int y = 5 + (i * rowHeight);
            h.Append($"<text x=\"{left - 6}\" y=\"{y + 12}\" text-anchor=\"end\">class {row.Class}</text>\n");
            h.Append($"<rect x=\"{left}\" y=\"{y + 2}\" width=\"{length.ToString("F1", Inv)}\" height=\"{rowHeight - 4}\" fill=\"#c0504d\">" +
                $"<title>class {row.Class}: support {row.Support}, mean loss {Number(row.MeanLoss)}, top-1 accuracy {row.Accuracy.ToString("F4", Inv)}</title></rect>\n");
            h.Append($"<text x=\"{(left + length + 4).ToString("F1", Inv)}\" y=\"{y + 12}\">{Number(row.MeanLoss)}</text>\n");
        }

        h.Append("</svg>\n");
    }

    private static void Row(StringBuilder h, string key, string valueHtml) =>
        h.Append($"<tr><td class=\"k\">{E(key)}</td><td>{valueHtml}</td></tr>\n");

    /// <summary>Escapes for HTML and XML alike; control characters (invalid in XML even escaped) become \xNN first.</summary>
    private static string E(string text) => WebUtility.HtmlEncode(NpyFormatException.OneLine(text));

    private static string Number(double value) => double.IsNaN(value) ? "nan" : value.ToString("G6", Inv);

    private static string Ratio(long hits, long total) =>
        total == 0 ? "nan (no evaluated positions)" : $"{((double)hits / total).ToString("F4", Inv)} ({hits} / {total})";

    private static void WriteShape(Utf8JsonWriter w, string name, long[] shape)
    {
        w.WriteStartArray(name);
        foreach (long d in shape)
        {
            w.WriteNumberValue(d);
        }

        w.WriteEndArray();
    }

    /// <summary>JSON has no NaN or infinity: those are written as null.</summary>
    private static void WriteDouble(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value))
        {
            w.WriteNumber(name, value);
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
