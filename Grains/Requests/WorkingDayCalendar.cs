using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;

namespace ShopAstro.Grains.Requests;

/// <summary>
/// The working days that data-subject request deadlines count (policy-rules.md, "Requests"): the days outside the
/// calendar's weekend, minus its public holidays, plus its make-up working days (weekend days worked in exchange
/// for a holiday block).
/// </summary>
/// <remarks>
/// Dates outside the years the calendar data covers are still computed, with the weekend as the only days off:
/// a deadline that runs past <see cref="CoveredUntil"/> does not know the next year's holidays, so callers should
/// warn (or load the next year's calendar) when that happens. Instances are immutable and thread-safe.
/// </remarks>
public sealed class WorkingDayCalendar
{
    /// <summary>The logical name of the embedded mainland China 2026 calendar in this assembly.</summary>
    public const string MainlandChina2026ResourceName = "ShopAstro.Calendars.cn-mainland-2026.json";

    private const string DateFormat = "yyyy-MM-dd";

    private static readonly TimeOnly _endOfDay = new(23, 59, 59);

    private static readonly FrozenDictionary<string, DayOfWeek> _dayNames =
        Enum.GetValues<DayOfWeek>().ToFrozenDictionary(day => day.ToString(), StringComparer.OrdinalIgnoreCase);

    private static readonly Lazy<WorkingDayCalendar> _mainlandChina2026 = new(() => LoadEmbedded(MainlandChina2026ResourceName));

    private readonly FrozenSet<DayOfWeek> _weekend;
    private readonly FrozenSet<DateOnly> _holidays;
    private readonly FrozenSet<DateOnly> _makeUpWorkingDays;

    private WorkingDayCalendar(
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
        CoveredUntil = years.Count == 0 ? null : new DateOnly(years.Max(), 12, 31);
    }

    /// <summary>The calendar's name, from its <c>calendar</c> field.</summary>
    public string Name { get; }

    /// <summary>The zone in which days are counted: a receipt belongs to the local date in this zone.</summary>
    public TimeZoneInfo TimeZone { get; }

    /// <summary>The configured public holidays (some fall on weekend days).</summary>
    public IReadOnlySet<DateOnly> Holidays => _holidays;

    /// <summary>The configured make-up working days, weekend days that are worked.</summary>
    public IReadOnlySet<DateOnly> MakeUpWorkingDays => _makeUpWorkingDays;

    /// <summary>
    /// December 31 of the last year that has holidays or make-up days configured, or <see langword="null"/> when
    /// none are. Later dates are counted with the weekend only.
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
        using var document = ParseDocument(json);
        return FromJson(document.RootElement);
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

    /// <summary>Whether <paramref name="date"/> is a working day: a holiday never is, a make-up day always is.</summary>
    public bool IsWorkingDay(DateOnly date)
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

    /// <summary>
    /// The <paramref name="workingDays"/>-th working day strictly after <paramref name="from"/>; whether
    /// <paramref name="from"/> itself is a working day does not matter.
    /// </summary>
    public DateOnly AddWorkingDays(DateOnly from, int workingDays)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(workingDays);

        var date = from;
        var counted = 0;
        while (counted < workingDays)
        {
            date = date.AddDays(1);
            if (IsWorkingDay(date))
            {
                counted++;
            }
        }

        return date;
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
    public DateTimeOffset DueAt(DateTimeOffset receivedAt, int workingDays = 15)
    {
        var receivedLocal = TimeZoneInfo.ConvertTime(receivedAt, TimeZone);
        var lastDay = AddWorkingDays(DateOnly.FromDateTime(receivedLocal.DateTime), workingDays);
        var endLocal = lastDay.ToDateTime(_endOfDay, DateTimeKind.Unspecified);
        return new DateTimeOffset(endLocal, TimeZone.GetUtcOffset(endLocal)).ToUniversalTime();
    }

    private static WorkingDayCalendar LoadEmbedded(string resourceName)
    {
        var assembly = typeof(WorkingDayCalendar).Assembly;
        using var stream = assembly.GetManifestResourceStream(resourceName)
            ?? throw new InvalidOperationException($"The calendar resource {resourceName} is not embedded in {assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd());
    }

    private static JsonDocument ParseDocument(string json)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new FormatException($"The calendar is not valid JSON: {e.Message}", e);
        }
    }

    private static WorkingDayCalendar FromJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("The calendar must be a JSON object.");
        }

        var name = RequiredString(root, "calendar", "calendar");
        var timeZoneId = RequiredString(root, "timeZone", "timeZone");
        var utcOffset = root.TryGetProperty("utcOffset", out var offsetElement)
            ? ParseUtcOffset(StringValue(offsetElement, "utcOffset"))
            : (TimeSpan?)null;

        var weekend = new HashSet<DayOfWeek>();
        var index = 0;
        foreach (var day in RequiredArray(root, "weekend", "weekend"))
        {
            weekend.Add(ParseDayName(StringValue(day, $"weekend[{index}]"), $"weekend[{index}]"));
            index++;
        }

        if (weekend.Count == 7)
        {
            throw new FormatException("weekend: all seven days are weekend days, so there would be no working days outside the configured years.");
        }

        var holidays = new Dictionary<DateOnly, string>();
        index = 0;
        foreach (var holiday in RequiredArray(root, "holidays", "holidays"))
        {
            var context = $"holidays[{index}]";
            if (holiday.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException($"{context} must be an object with \"name\" and \"dates\".");
            }

            var holidayName = RequiredString(holiday, "name", $"{context}.name");
            var dateIndex = 0;
            foreach (var date in RequiredArray(holiday, "dates", $"{context}.dates"))
            {
                var dateContext = $"{context}.dates[{dateIndex}]";
                holidays.TryAdd(ParseDate(StringValue(date, dateContext), dateContext), holidayName);
                dateIndex++;
            }

            index++;
        }

        var makeUpWorkingDays = new HashSet<DateOnly>();
        index = 0;
        foreach (var element in RequiredArray(root, "makeUpWorkingDays", "makeUpWorkingDays"))
        {
            var context = $"makeUpWorkingDays[{index}]";
            var date = ParseDate(StringValue(element, context), context);
            if (holidays.TryGetValue(date, out var holidayName))
            {
                throw new FormatException($"{context}: {Format(date)} is both a holiday ({holidayName}) and a make-up working day.");
            }

            if (!weekend.Contains(date.DayOfWeek))
            {
                throw new FormatException($"{context}: {Format(date)} is a {date.DayOfWeek}, not a weekend day, so it cannot be a make-up working day.");
            }

            makeUpWorkingDays.Add(date);
            index++;
        }

        return new WorkingDayCalendar(
            name,
            ResolveTimeZone(timeZoneId, utcOffset),
            weekend.ToFrozenSet(),
            holidays.Keys.ToFrozenSet(),
            makeUpWorkingDays.ToFrozenSet());
    }

    private static TimeZoneInfo ResolveTimeZone(string id, TimeSpan? utcOffset)
    {
        TimeZoneInfo? zone;
        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(id);
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            zone = null;
        }

        if (zone is null)
        {
            if (utcOffset is not { } offset)
            {
                throw new FormatException($"timeZone: \"{id}\" is not known on this system (no time zone data?) and the calendar has no \"utcOffset\" to fall back on.");
            }

            // Without tz data (containers often lack it) a fixed offset is exact for zones without daylight saving.
            var label = $"{id} (fixed UTC{FormatOffset(offset)})";
            return TimeZoneInfo.CreateCustomTimeZone(id, offset, label, label);
        }

        if (utcOffset is { } expected && zone.BaseUtcOffset != expected)
        {
            throw new FormatException($"utcOffset: {FormatOffset(expected)} does not match the standard offset {FormatOffset(zone.BaseUtcOffset)} of \"{id}\".");
        }

        return zone;
    }

    private static string RequiredString(JsonElement parent, string property, string context)
    {
        if (!parent.TryGetProperty(property, out var element))
        {
            throw new FormatException($"{context} is missing.");
        }

        var value = StringValue(element, context);
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new FormatException($"{context} must not be empty.");
        }

        return value;
    }

    private static JsonElement.ArrayEnumerator RequiredArray(JsonElement parent, string property, string context)
    {
        if (!parent.TryGetProperty(property, out var element))
        {
            throw new FormatException($"{context} is missing.");
        }

        if (element.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException($"{context} must be an array.");
        }

        return element.EnumerateArray();
    }

    private static string StringValue(JsonElement element, string context)
    {
        if (element.ValueKind != JsonValueKind.String)
        {
            throw new FormatException($"{context} must be a string, not {element.ValueKind}.");
        }

        return element.GetString()!;
    }

    private static DayOfWeek ParseDayName(string text, string context)
    {
        if (!_dayNames.TryGetValue(text, out var day))
        {
            throw new FormatException($"{context}: \"{text}\" is not a day name (expected Monday ... Sunday).");
        }

        return day;
    }

    private static DateOnly ParseDate(string text, string context)
    {
        if (!DateOnly.TryParseExact(text, DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            throw new FormatException($"{context}: \"{text}\" is not a date in {DateFormat} form.");
        }

        return date;
    }

    private static TimeSpan ParseUtcOffset(string text)
    {
        // Exactly "+hh:mm" or "-hh:mm", as in ISO 8601.
        if (text.Length == 6
            && text[0] is '+' or '-'
            && text[3] == ':'
            && int.TryParse(text.AsSpan(1, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var hours)
            && int.TryParse(text.AsSpan(4, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var minutes)
            && hours <= 14
            && minutes < 60
            && hours * 60 + minutes <= 14 * 60)
        {
            var offset = new TimeSpan(hours, minutes, 0);
            return text[0] == '-' ? offset.Negate() : offset;
        }

        throw new FormatException($"utcOffset: \"{text}\" is not an offset of the form +hh:mm between -14:00 and +14:00.");
    }

    private static string Format(DateOnly date) => date.ToString(DateFormat, CultureInfo.InvariantCulture);

    private static string FormatOffset(TimeSpan offset) =>
        (offset < TimeSpan.Zero ? "-" : "+") + offset.Duration().ToString(@"hh\:mm", CultureInfo.InvariantCulture);
}
