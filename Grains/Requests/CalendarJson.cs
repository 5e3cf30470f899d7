using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;

namespace ShopAstro.Grains.Requests;

/// <summary>
/// Reads one calendar file in the format of <c>calendars/cn-mainland-2026.json</c> (see
/// <see cref="WorkingDayCalendar.Parse(string)"/>); every inconsistency is a <see cref="FormatException"/> naming
/// the field.
/// </summary>
internal static class CalendarJson
{
    private const string DateFormat = "yyyy-MM-dd";

    private static readonly FrozenDictionary<string, DayOfWeek> _dayNames =
        Enum.GetValues<DayOfWeek>().ToFrozenDictionary(day => day.ToString(), StringComparer.OrdinalIgnoreCase);

    public static WorkingDayCalendar Read(string json)
    {
        using var document = ParseDocument(json);
        return FromJson(document.RootElement);
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

    internal static string Format(DateOnly date) => date.ToString(DateFormat, CultureInfo.InvariantCulture);

    private static string FormatOffset(TimeSpan offset) =>
        (offset < TimeSpan.Zero ? "-" : "+") + offset.Duration().ToString(@"hh\:mm", CultureInfo.InvariantCulture);
}
