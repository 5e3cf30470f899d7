using System.Diagnostics;
using System.Runtime.InteropServices;

namespace ShopAstro.LoadTests;

/// <summary>
/// Samples /proc every 500 ms: CPU time of each named process group (edge, silo, PostgreSQL, ...) and of the
/// whole machine, so that any window of the run can be split into who used the two cores.
/// </summary>
public sealed class CpuSampler : IAsyncDisposable
{
    private readonly Dictionary<string, Func<IEnumerable<int>>> _groups = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<int, long>> _lastTicks = new(StringComparer.Ordinal);
    private readonly List<Sample> _samples = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    internal static readonly double TicksPerSecond = ClockTicks();

    public sealed record Sample(double At, long MachineBusy, long MachineTotal, long Interrupts, long Steal, Dictionary<string, long> Groups);

    /// <summary>
    /// Percent of one core. <see cref="InterruptPercent"/>: hard and soft interrupts (loopback TCP is largely softirq);
    /// <see cref="OtherPercent"/>: busy time of no tracked process and no interrupt, i.e. other work on the machine.
    /// </summary>
    public sealed record Usage(
        double Seconds, double MachineBusyPercent, Dictionary<string, double> GroupPercent, double InterruptPercent, double StealPercent, double OtherPercent);

    public CpuSampler()
    {
        Clock = Stopwatch.StartNew();
        _loop = Task.Run(LoopAsync);
    }

    public Stopwatch Clock { get; }

    public double Now => Clock.Elapsed.TotalSeconds;

    public void Track(string group, Func<IEnumerable<int>> pids)
    {
        lock (_samples)
        {
            _groups[group] = pids;
            _lastTicks.TryAdd(group, []);
        }
    }

    public void Track(string group, int pid) => Track(group, () => [pid]);

    /// <summary>
    /// As <see cref="Between"/>, but for a run next to other measured runs: half a second in from each end when the run is
    /// long enough, since a window widens to the samples around it (every 500 ms) and would count some of its neighbours' work.
    /// </summary>
    public Usage Inside(double from, double to) => to - from > 2 ? Between(from + 0.5, to - 0.5) : Between(from, to);

    /// <summary>Percent of one core per group (100 = one core busy) between two moments of <see cref="Now"/>.</summary>
    public Usage Between(double from, double to)
    {
        TakeSample();
        lock (_samples)
        {
            var first = _samples.LastOrDefault(s => s.At <= from) ?? _samples.First();
            var last = _samples.FirstOrDefault(s => s.At >= to) ?? _samples.Last();
            var seconds = Math.Max(1e-3, last.At - first.At);
            var groups = new Dictionary<string, double>(StringComparer.Ordinal);
            double ours = 0;
            foreach (var (name, ticks) in last.Groups)
            {
                var before = first.Groups.GetValueOrDefault(name);
                var percent = (ticks - before) / TicksPerSecond / seconds * 100;
                groups[name] = Math.Round(percent, 1);
                ours += percent;
            }

            var machineBusy = (last.MachineBusy - first.MachineBusy) / TicksPerSecond / seconds * 100;
            var interrupts = (last.Interrupts - first.Interrupts) / TicksPerSecond / seconds * 100;
            var steal = (last.Steal - first.Steal) / TicksPerSecond / seconds * 100;
            return new Usage(Math.Round(seconds, 1), Math.Round(machineBusy, 1), groups, Math.Round(interrupts, 1), Math.Round(steal, 1),
                Math.Round(Math.Max(0, machineBusy - ours - interrupts - steal), 1));
        }
    }

    private readonly Dictionary<int, (string Command, long First, long Last)> _everyone = [];
    private int _loops;

    /// <summary>The processes that are not part of this run and used the most CPU while it ran (seconds of CPU).</summary>
    public IReadOnlyList<(int Pid, string Command, double CpuSeconds)> TopOthers(int count)
    {
        lock (_samples)
        {
            var ours = _lastTicks.Values.SelectMany(t => t.Keys).ToHashSet();
            ours.Add(Environment.ProcessId);
            return _everyone.Where(p => !ours.Contains(p.Key))
                .Select(p => (p.Key, p.Value.Command, Math.Round((p.Value.Last - p.Value.First) / TicksPerSecond, 1)))
                .Where(p => p.Item3 >= 2)
                .OrderByDescending(p => p.Item3).Take(count).ToList();
        }
    }

    private void SampleEveryone(bool first)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || ProcessTicks(pid) is not { } ticks)
            {
                continue;
            }

            lock (_samples)
            {
                if (_everyone.TryGetValue(pid, out var known))
                {
                    _everyone[pid] = known with { Last = ticks };
                }
                else
                {
                    var command = CommandLine(pid).Trim();
                    if (command.Length == 0)
                    {
                        continue;
                    }

                    // A process first seen during the run counts all its CPU: it started during the run. Only the program
                    // and its first arguments are kept (no environment, no long argument lists).
                    var tokens = command.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(4).Select(t => t.Length > 60 ? t[..60] + "…" : t);
                    _everyone[pid] = (string.Join(' ', tokens), first ? ticks : 0, ticks);
                }
            }
        }
    }

    private async Task LoopAsync()
    {
        SampleEveryone(first: true);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                if (++_loops % 4 == 0)
                {
                    SampleEveryone(first: false);
                }

                TakeSample();
                await Task.Delay(500, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception)
            {
                // A process that ended between listing and reading: skip this sample.
            }
        }
    }

    private void TakeSample()
    {
        lock (_samples)
        {
            var (busy, total, interrupts, steal) = MachineTicks();
            var groups = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var (name, pids) in _groups)
            {
                var last = _lastTicks[name];
                foreach (var pid in SafePids(pids))
                {
                    if (ProcessTicks(pid) is { } ticks)
                    {
                        last[pid] = ticks;
                    }
                }

                // Processes that ended keep their last reading: the group's total never goes back.
                groups[name] = last.Values.Sum();
            }

            _samples.Add(new Sample(Now, busy, total, interrupts, steal, groups));
        }
    }

    private static IEnumerable<int> SafePids(Func<IEnumerable<int>> pids)
    {
        try
        {
            return pids().ToArray();
        }
        catch (Exception)
        {
            return [];
        }
    }

    /// <summary>utime + stime of one process, in clock ticks.</summary>
    public static long? ProcessTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After "pid (comm) ": state is field 0; utime is field 11, stime 12.
            return long.Parse(fields[11]) + long.Parse(fields[12]);
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>The nice value of one process (-20 to 19).</summary>
    public static int? Niceness(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // After "pid (comm) ": nice is field 16.
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16]);
        }
        catch (Exception)
        {
            return null;
        }
    }

    private static (long Busy, long Total, long Interrupts, long Steal) MachineTicks()
    {
        // cpu  user nice system idle iowait irq softirq steal ...
        var line = File.ReadLines("/proc/stat").First();
        var values = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
        var total = values.Take(8).Sum();
        var idle = values[3] + values[4];
        return (total - idle, total, values[5] + values[6], values[7]);
    }

    /// <summary>
    /// The postmaster listening on <paramref name="port"/>, its background processes (WAL writer, checkpointer, ...) and the
    /// client backends connected to <paramref name="database"/>; backends of other databases (other test runs sharing the
    /// PostgreSQL instance) are left out.
    /// </summary>
    public static IEnumerable<int> PostgresPids(int port, string database)
    {
        var all = new List<(int Pid, int Parent, string Command)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var open = stat.IndexOf('(');
                var close = stat.LastIndexOf(')');
                var comm = stat[(open + 1)..close];
                if (comm != "postgres")
                {
                    continue;
                }

                var parent = int.Parse(stat[(close + 2)..].Split(' ')[1]);
                var command = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                all.Add((pid, parent, command));
            }
            catch (Exception)
            {
            }
        }

        var master = all.FirstOrDefault(p => p.Command.Contains($"-p {port} ", StringComparison.Ordinal) || p.Command.EndsWith($"-p {port}", StringComparison.Ordinal)
            || p.Command.Contains($"port={port}", StringComparison.Ordinal));
        if (master.Pid == 0)
        {
            return [];
        }

        static bool IsClientBackend(string command) =>
            command.Contains("127.0.0.1(", StringComparison.Ordinal) || command.Contains("[local]", StringComparison.Ordinal) || command.Contains("::1(", StringComparison.Ordinal);
        return all.Where(p => p.Pid == master.Pid
                              || (p.Parent == master.Pid && (!IsClientBackend(p.Command) || (database.Length > 0 && p.Command.Contains($" {database} ", StringComparison.Ordinal)))))
            .Select(p => p.Pid).ToArray();
    }

    public static IEnumerable<int> PidsByCommand(string comm, string? commandLineContains = null)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            string? name = null;
            try
            {
                name = File.ReadAllText(Path.Combine(dir, "comm")).Trim();
            }
            catch (Exception)
            {
            }

            if (name == comm && (commandLineContains is null || CommandLine(pid).Contains(commandLineContains, StringComparison.Ordinal)))
            {
                yield return pid;
            }
        }
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (Exception)
        {
            return "";
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _loop;
    }

    private static double ClockTicks()
    {
        try
        {
            var ticks = sysconf(2); // _SC_CLK_TCK
            return ticks > 0 ? ticks : 100;
        }
        catch (Exception)
        {
            return 100;
        }
    }

    [DllImport("libc", EntryPoint = "sysconf")]
    private static extern long sysconf(int name);
}
