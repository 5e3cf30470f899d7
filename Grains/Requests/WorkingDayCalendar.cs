using System.Collections.Frozen;

namespace ShopAstro.Grains.Requests;

/// <summary>
/// The working days that data-subject request deadlines count (policy-rules.md, "Requests"): the days outside the
/// calendar's weekend, minus its public holidays, plus its make-up working days (weekend days worked in exchange
/// for a holiday block).
/// </summary>
/// <remarks>
/// A calendar covers the years its holidays and make-up days fall in (several yearly files combine, see
/// <see cref="Combine"/>). Outside them it does not know the days off, so it does not guess: <see cref="IsWorkingDay"/>
/// and <see cref="DueAt"/> refuse such dates, and <see cref="Deadline"/> counts them with the weekend only and says
/// the result is provisional. Instances are immutable and thread-safe.
/// </remarks>
public sealed class WorkingDayCalendar
{
    /// <summary>The logical name of the embedded mainland China 2026 calendar in this assembly.</summary>
    public const string MainlandChina2026ResourceName = EmbeddedResourcePrefix + "cn-mainland-2026.json";

    /// <summary>Every calendar file embedded in this assembly (Requests/Calendars/*.json) has this prefix.</summary>
    public const string EmbeddedResourcePrefix = "ShopAstro.Calendars.";

    private static readonly TimeOnly _endOfDay = new(23, 59, 59);

    private static readonly Lazy<WorkingDayCalendar> _mainlandChina2026 = new(() => LoadEmbedded(MainlandChina2026ResourceName));

    private readonly FrozenSet<DayOfWeek> _weekend;
    private readonly FrozenSet<DateOnly> _holidays;
    private readonly FrozenSet<DateOnly> _makeUpWorkingDays;

    internal WorkingDayCalendar(
        string name,
        TimeZoneInfo timeZone,
        FrozenSet<DayOfWeek> weekend,
        FrozenSet<DateOnly> holidays,
        FrozenSet<DateOnly> makeUpWorkingDays)
    {
        Name = name;
        TimeZone = timeZone;
        _weekend = weekend;
        _holidays = holidays;
        _makeUpWorkingDays = makeUpWorkingDays;

        var years = holidays.Concat(makeUpWorkingDays).Select(date => date.Year).ToList();
        if (years.Count > 0)
        {
            CoveredFrom = new DateOnly(years.Min(), 1, 1);
            CoveredUntil = new DateOnly(years.Max(), 12, 31);
        }
    }

    /// <summary>The calendar's name, from its <c>calendar</c> field (names joined for a combined calendar).</summary>
    public string Name { get; }

    /// <summary>The zone in which days are counted: a receipt belongs to the local date in this zone.</summary>
    public TimeZoneInfo TimeZone { get; }

    /// <summary>The configured public holidays (some fall on weekend days).</summary>
    public IReadOnlySet<DateOnly> Holidays => _holidays;

    /// <summary>The configured make-up working days, weekend days that are worked.</summary>
    public IReadOnlySet<DateOnly> MakeUpWorkingDays => _makeUpWorkingDays;

    /// <summary>January 1 of the first year that has holidays or make-up days configured; null when none are.</summary>
    public DateOnly? CoveredFrom { get; }

    /// <summary>
    /// December 31 of the last year that has holidays or make-up days configured, or <see langword="null"/> when
    /// none are. Later dates are not known.
    /// </summary>
    public DateOnly? CoveredUntil { get; }

    /// <summary>The official mainland China calendar for 2026 (Asia/Shanghai), embedded in this assembly.</summary>
    public static WorkingDayCalendar MainlandChina2026 => _mainlandChina2026.Value;

    /// <summary>
    /// Reads a calendar in the format of <c>calendars/cn-mainland-2026.json</c>: <c>calendar</c> (name),
    /// <c>timeZone</c> (IANA id), optional <c>utcOffset</c> (<c>+08:00</c>, the fixed offset used when the system
    /// has no data for the zone), <c>weekend</c> (English day names), <c>holidays</c> (<c>[{name, dates[]}]</c>)
    /// and <c>makeUpWorkingDays</c> (dates); dates are <c>yyyy-MM-dd</c>. Other fields (<c>source</c>) are ignored.
    /// </summary>
    /// <exception cref="FormatException">The JSON is malformed or the calendar is inconsistent.</exception>
    public static WorkingDayCalendar Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return CalendarJson.Read(json);
    }

    /// <summary>Reads a calendar file; see <see cref="Parse(string)"/> for the format.</summary>
    /// <exception cref="FormatException">The file's content is not a valid calendar.</exception>
    public static WorkingDayCalendar Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var json = File.ReadAllText(path);
        try
        {
            return Parse(json);
        }
        catch (FormatException e)
        {
            throw new FormatException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>
    /// One calendar of several (typically one file per year): the same time zone and weekend, consecutive years
    /// without a gap, and no date that one calls a holiday and another a make-up working day.
    /// </summary>
    /// <exception cref="FormatException">The calendars do not fit together.</exception>
    public static WorkingDayCalendar Combine(IReadOnlyList<WorkingDayCalendar> calendars)
    {
        if (calendars.Count == 0)
        {
            throw new FormatException("No calendar to combine.");
        }

        if (calendars.Count == 1)
        {
            return calendars[0];
        }

        var first = calendars[0];
        foreach (var other in calendars.Skip(1))
        {
            if (other.TimeZone.Id != first.TimeZone.Id || other.TimeZone.BaseUtcOffset != first.TimeZone.BaseUtcOffset)
            {
                throw new FormatException($"\"{other.Name}\" counts days in {other.TimeZone.Id}, \"{first.Name}\" in {first.TimeZone.Id}.");
            }

            if (!other._weekend.SetEquals(first._weekend))
            {
                throw new FormatException($"\"{other.Name}\" and \"{first.Name}\" have different weekends.");
            }
        }

        var holidays = calendars.SelectMany(c => c._holidays).ToHashSet();
        var makeUpWorkingDays = calendars.SelectMany(c => c._makeUpWorkingDays).ToHashSet();
        if (holidays.Intersect(makeUpWorkingDays).Order().FirstOrDefault() is var both && both != default)
        {
            throw new FormatException($"{CalendarJson.Format(both)} is a holiday in one calendar and a make-up working day in another.");
        }

        var years = calendars.Where(c => c.CoveredFrom is not null)
            .SelectMany(c => Enumerable.Range(c.CoveredFrom!.Value.Year, c.CoveredUntil!.Value.Year - c.CoveredFrom.Value.Year + 1))
            .ToHashSet();
        if (years.Count > 0 && years.Max() - years.Min() + 1 != years.Count)
        {
            var missing = Enumerable.Range(years.Min(), years.Max() - years.Min()).First(year => !years.Contains(year));
            throw new FormatException($"No calendar covers {missing}, between years that are covered.");
        }

        return new WorkingDayCalendar(
            string.Join("; ", calendars.Select(c => c.Name)),
            first.TimeZone,
            first._weekend,
            holidays.ToFrozenSet(),
            makeUpWorkingDays.ToFrozenSet());
    }

    /// <summary>Whether the calendar knows the days off of <paramref name="date"/>'s year.</summary>
    public bool Covers(DateOnly date) => date >= CoveredFrom && date <= CoveredUntil;

    /// <summary>Whether <paramref name="date"/> is a working day: a holiday never is, a make-up day always is.</summary>
    /// <exception cref="CalendarNotCoveredException"><paramref name="date"/> lies outside the covered years.</exception>
    public bool IsWorkingDay(DateOnly date) =>
        Covers(date) ? IsWorkingDayOrWeekday(date) : throw new CalendarNotCoveredException(this, date);

    /// <summary>
    /// The <paramref name="workingDays"/>-th working day strictly after <paramref name="from"/>; whether
    /// <paramref name="from"/> itself is a working day does not matter.
    /// </summary>
    /// <exception cref="CalendarNotCoveredException">The count runs outside the covered years.</exception>
    public DateOnly AddWorkingDays(DateOnly from, int workingDays)
    {
        var (day, provisional) = Count(from, workingDays);
        return provisional ? throw new CalendarNotCoveredException(this, day) : day;
    }

    /// <summary>
    /// When a request received at <paramref name="receivedAt"/> is due: the end of the
    /// <paramref name="workingDays"/>-th working day after the day of receipt.
    /// </summary>
    /// <remarks>
    /// The day of receipt is the local date of <paramref name="receivedAt"/> in <see cref="TimeZone"/>, whatever
    /// offset <paramref name="receivedAt"/> carries (2026-11-27T17:00:00Z is Saturday 2026-11-28 01:00 in Shanghai),
    /// and it never counts, even when it is a working day. "End of the day" is chosen as 23:59:59 local time, to
    /// the second because the API exchanges whole seconds: a request is overdue once the clock is past
    /// <c>dueAt</c>. The result is in UTC (offset zero), e.g. <c>15:59:59Z</c> for a UTC+08:00 calendar.
    /// </remarks>
    /// <exception cref="CalendarNotCoveredException">A day counted lies outside the covered years.</exception>
    public DateTimeOffset DueAt(DateTimeOffset receivedAt, int workingDays = 15)
    {
        var due = Deadline(receivedAt, workingDays);
        return due.Provisional
            ? throw new CalendarNotCoveredException(this, DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(due.At, TimeZone).DateTime))
            : due.At;
    }

    /// <summary>
    /// <see cref="DueAt"/>, except that days outside the covered years are counted with the weekend as the only days
    /// off, and the result then says it is <see cref="DueDate.Provisional"/>.
    /// </summary>
    public DueDate Deadline(DateTimeOffset receivedAt, int workingDays = 15)
    {
        var receivedLocal = TimeZoneInfo.ConvertTime(receivedAt, TimeZone);
        var (lastDay, provisional) = Count(DateOnly.FromDateTime(receivedLocal.DateTime), workingDays);
        var endLocal = lastDay.ToDateTime(_endOfDay, DateTimeKind.Unspecified);
        return new DueDate(new DateTimeOffset(endLocal, TimeZone.GetUtcOffset(endLocal)).ToUniversalTime(), provisional);
    }

    private (DateOnly Day, bool Provisional) Count(DateOnly from, int workingDays)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(workingDays);

        var date = from;
        var counted = 0;
        var provisional = false;
        while (counted < workingDays)
        {
            date = date.AddDays(1);
            provisional |= !Covers(date);
            if (IsWorkingDayOrWeekday(date))
            {
                counted++;
            }
        }

        return (date, provisional);
    }

    private bool IsWorkingDayOrWeekday(DateOnly date)
    {
        if (_holidays.Contains(date))
        {
            return false;
        }

        if (_makeUpWorkingDays.Contains(date))
        {
            return true;
        }

        return !_weekend.Contains(date.DayOfWeek);
    }

    internal static WorkingDayCalendar LoadEmbedded(string resourceName)
    {
        var assembly = typeof(WorkingDayCalendar).Assembly;
        using var stream = assembly.GetManifestResourceStream(resourceName)
            ?? throw new InvalidOperationException($"The calendar resource {resourceName} is not embedded in {assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd());
    }
}

/// <param name="At">The end of the last working day, in UTC.</param>
/// <param name="Provisional">Some day counted lies outside the calendar's years: counted with the weekend only.</param>
public readonly record struct DueDate(DateTimeOffset At, bool Provisional);

/// <summary>A date the calendar was asked about lies outside the years it covers.</summary>
public sealed class CalendarNotCoveredException(WorkingDayCalendar calendar, DateOnly date)
    : InvalidOperationException(
        $"{CalendarJson.Format(date)} lies outside the years the calendar \"{calendar.Name}\" covers" +
        (calendar.CoveredUntil is { } until ? $" ({CalendarJson.Format(calendar.CoveredFrom!.Value)} to {CalendarJson.Format(until)})." : " (none)."))
{
    public DateOnly Date { get; } = date;
}
