using System.Globalization;
using ShopAstro.Grains.Requests;

namespace ShopAstro.Tests.Unit;

/// <summary>
/// Request deadlines on the mainland China 2026 calendar: 15 working days after the day of receipt, counted in
/// Asia/Shanghai, due at 23:59:59 local (15:59:59Z). Every expectation was counted by hand on the 2026 holiday
/// notice and checked with a separate script.
/// </summary>
public sealed class WorkingDayCalendarTests
{
    private static WorkingDayCalendar China => WorkingDayCalendar.MainlandChina2026;

    [Theory]
    // Weekends only: Mon 11-23 -> Tue 24 .. Fri 27 (4), Nov 30 .. Dec 4 (9), Dec 7 .. 11 (14), Mon Dec 14 (15).
    [InlineData("plain weeks, received on a Monday", "2026-11-23T02:00:00Z", "2026-12-14T15:59:59Z")]
    // The contract example: 17:00 Friday in Shanghai -> Nov 30 .. Dec 4, Dec 7 .. 11, Dec 14 .. 18.
    [InlineData("contract example, Friday 17:00 in Shanghai", "2026-11-27T09:00:00Z", "2026-12-18T15:59:59Z")]
    // Still Friday in UTC, already Saturday 01:00 in Shanghai.
    [InlineData("Friday in UTC, Saturday in Shanghai", "2026-11-27T17:00:00Z", "2026-12-18T15:59:59Z")]
    // Thursday 23:59:59 in Shanghai counts from Thursday; one second later it is Friday there, Thursday in UTC.
    [InlineData("last second of Thursday in Shanghai", "2026-11-26T15:59:59Z", "2026-12-17T15:59:59Z")]
    [InlineData("Thursday in UTC, Friday 00:00 in Shanghai", "2026-11-26T16:00:00Z", "2026-12-18T15:59:59Z")]
    [InlineData("Thursday at -05:00, Friday 00:00 in Shanghai", "2026-11-26T11:00:00-05:00", "2026-12-18T15:59:59Z")]
    // National Day 10-01 .. 07 off, Sat 10-10 worked: Oct 8, 9, 10 (3), Oct 12 .. 16 (8), Oct 19 .. 23 (13), Oct 26, 27.
    [InlineData("National Day block and the make-up Saturday", "2026-09-30T10:00:00+08:00", "2026-10-27T15:59:59Z")]
    // Mid-Autumn Fri 09-25 off too: Sep 22, 23, 24, 28, 29, 30 (6), Oct 8, 9, 10 (9), Oct 12 .. 16 (14), Mon Oct 19.
    [InlineData("Mid-Autumn and National Day blocks", "2026-09-21T10:00:00+08:00", "2026-10-19T15:59:59Z")]
    // Spring Festival 02-15 .. 23 off, Sat 02-14 and Sat 02-28 worked:
    // Feb 10 .. 13 (4), Sat 14 (5), Feb 24 .. 27 (9), Sat 28 (10), Mar 2 .. 6 (15).
    [InlineData("Spring Festival with both make-up Saturdays", "2026-02-09T10:00:00+08:00", "2026-03-06T15:59:59Z")]
    // Sat 14 (1), Feb 24 .. 28 (6), Mar 2 .. 6 (11), Mar 9 .. 12 (15).
    [InlineData("Spring Festival, received the Friday before", "2026-02-13T10:00:00+08:00", "2026-03-12T15:59:59Z")]
    // New Year 01-01 .. 03 off, Sun 01-04 worked: Jan 4 (1), Jan 5 .. 9 (6), Jan 12 .. 16 (11), Jan 19 .. 22 (15).
    [InlineData("New Year, received on the holiday", "2026-01-01T10:00:00+08:00", "2026-01-22T15:59:59Z")]
    // The day of receipt never counts, whatever kind of day it is.
    [InlineData("received on a holiday (National Day)", "2026-10-02T10:00:00+08:00", "2026-10-27T15:59:59Z")]
    [InlineData("received on a holiday (Spring Festival)", "2026-02-18T10:00:00+08:00", "2026-03-13T15:59:59Z")]
    [InlineData("received on a Sunday", "2026-11-29T10:00:00+08:00", "2026-12-18T15:59:59Z")]
    // Oct 12 .. 16 (5), Oct 19 .. 23 (10), Oct 26 .. 30 (15); counting the Saturday itself would give Oct 29.
    [InlineData("received on the make-up Saturday 10-10", "2026-10-10T10:00:00+08:00", "2026-10-30T15:59:59Z")]
    // Feb 24 .. 28 (5), Mar 2 .. 6 (10), Mar 9 .. 13 (15).
    [InlineData("received on the make-up Saturday 02-14", "2026-02-14T10:00:00+08:00", "2026-03-13T15:59:59Z")]
    public void DueAt_is_the_end_of_the_fifteenth_working_day_after_receipt_in_Shanghai(string situation, string receivedAt, string expectedDueAt)
    {
        var due = China.DueAt(Instant(receivedAt));

        Assert.True(Instant(expectedDueAt) == due, $"{situation}: expected {expectedDueAt}, got {due:O}");
        Assert.Equal(TimeSpan.Zero, due.Offset);
    }

    [Fact]
    public void DueAt_takes_another_number_of_working_days()
    {
        Assert.Equal(Instant("2026-11-30T15:59:59Z"), China.DueAt(Instant("2026-11-27T09:00:00Z"), workingDays: 1));
        Assert.Equal(Instant("2026-10-08T15:59:59Z"), China.DueAt(Instant("2026-09-30T10:00:00+08:00"), workingDays: 1));
    }

    [Theory]
    [InlineData("2026-10-01", false)] // Thursday, National Day
    [InlineData("2026-02-16", false)] // Monday, Spring Festival
    [InlineData("2026-01-03", false)] // Saturday, New Year holiday
    [InlineData("2026-10-10", true)] // Saturday, make-up working day
    [InlineData("2026-01-04", true)] // Sunday, make-up working day
    [InlineData("2026-09-20", true)] // Sunday, make-up working day
    [InlineData("2026-11-28", false)] // plain Saturday
    [InlineData("2026-11-29", false)] // plain Sunday
    [InlineData("2026-11-27", true)] // plain Friday
    public void IsWorkingDay_applies_holidays_then_make_up_days_then_the_weekend(string date, bool expected)
    {
        Assert.Equal(expected, China.IsWorkingDay(Date(date)));
    }

    [Theory]
    [InlineData("2027-01-01")] // New Year's Day 2027: the 2026 calendar cannot know it is a holiday
    [InlineData("2027-01-02")]
    [InlineData("2025-12-31")]
    public void Days_outside_the_covered_year_are_not_guessed(string date)
    {
        Assert.False(China.Covers(Date(date)));
        var refused = Assert.Throws<CalendarNotCoveredException>(() => China.IsWorkingDay(Date(date)));
        Assert.Equal(Date(date), refused.Date);
    }

    [Fact]
    public void A_due_date_past_the_covered_year_is_refused_or_provisional_with_weekends_only()
    {
        var receivedAt = Instant("2026-12-21T10:00:00+08:00");

        Assert.Throws<CalendarNotCoveredException>(() => China.DueAt(receivedAt));
        Assert.Throws<CalendarNotCoveredException>(() => China.AddWorkingDays(Date("2026-12-21"), 15));
        // Weekends only: Dec 22 .. 25 (4), Dec 28 .. Jan 1 (9), Jan 4 .. 8 (14), Mon Jan 11.
        Assert.Equal(new DueDate(Instant("2027-01-11T15:59:59Z"), Provisional: true), China.Deadline(receivedAt));
        // Within the year the deadline is firm.
        Assert.Equal(new DueDate(Instant("2026-12-18T15:59:59Z"), Provisional: false), China.Deadline(Instant("2026-11-27T09:00:00Z")));
    }

    [Fact]
    public void A_folder_of_yearly_calendars_covers_every_year_and_counts_the_next_years_holidays()
    {
        var folder = Directory.CreateTempSubdirectory("calendars-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "cn-mainland-2026.json"), EmbeddedJson());
            File.WriteAllText(Path.Combine(folder, "test-2027.json"), Calendar(
                holidays: """[{"name": "New Year's Day", "dates": ["2027-01-01"]}]""", makeUpWorkingDays: "[]"));

            var calendar = CalendarSources.Load(new RequestOptions { CalendarFolder = folder });

            Assert.Equal(Date("2026-01-01"), calendar.CoveredFrom);
            Assert.Equal(Date("2027-12-31"), calendar.CoveredUntil);
            Assert.False(calendar.IsWorkingDay(Date("2027-01-01")));
            Assert.False(calendar.IsWorkingDay(Date("2026-10-01")));
            Assert.True(calendar.IsWorkingDay(Date("2026-10-10")));
            // Dec 22 .. 25 (4), Dec 28 .. 31 (8), Jan 4 .. 8 (13), Jan 11, 12 (15): New Year's Day does not count.
            Assert.Equal(Instant("2027-01-12T15:59:59Z"), calendar.DueAt(Instant("2026-12-21T10:00:00+08:00")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("a gap between years", """{"name": "X", "dates": ["2028-01-01"]}""", "Asia/Shanghai", "2027")]
    [InlineData("another time zone", """{"name": "X", "dates": ["2027-01-01"]}""", "Europe/Berlin", "Europe/Berlin")]
    public void Yearly_calendars_that_do_not_fit_together_stop_the_start(string situation, string holiday, string timeZone, string expectedInMessage)
    {
        var folder = Directory.CreateTempSubdirectory("calendars-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "a.json"), EmbeddedJson());
            File.WriteAllText(Path.Combine(folder, "b.json"), Calendar(timeZone: timeZone, holidays: $"[{holiday}]", makeUpWorkingDays: "[]"));

            var error = Assert.Throws<FormatException>(() => CalendarSources.Load(new RequestOptions { CalendarFolder = folder }));

            Assert.True(error.Message.Contains(expectedInMessage, StringComparison.Ordinal), $"{situation}: {error.Message}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void A_calendar_file_and_a_folder_together_stop_the_start()
    {
        Assert.Throws<InvalidOperationException>(() => CalendarSources.Load(new RequestOptions { Calendar = "a.json", CalendarFolder = "calendars" }));
    }

    [Fact]
    public void The_built_in_calendars_are_every_embedded_file_combined()
    {
        var builtIn = CalendarSources.Embedded();

        Assert.Equal(China.Holidays.Order(), builtIn.Holidays.Where(d => d.Year == 2026).Order());
        Assert.Equal(Date("2026-01-01"), builtIn.CoveredFrom);
    }

    [Theory]
    [InlineData("2026-11-27", 1, "2026-11-30")]
    [InlineData("2026-11-23", 15, "2026-12-14")]
    [InlineData("2026-09-30", 3, "2026-10-10")]
    [InlineData("2026-02-13", 1, "2026-02-14")]
    [InlineData("2026-02-14", 1, "2026-02-24")]
    [InlineData("2026-04-03", 1, "2026-04-07")] // Qingming Sat 04-04 .. Mon 04-06
    [InlineData("2026-04-30", 1, "2026-05-06")] // Labour Day Fri 05-01 .. Tue 05-05
    [InlineData("2026-05-08", 1, "2026-05-09")] // make-up Saturday after Labour Day
    public void AddWorkingDays_counts_strictly_after_the_start(string from, int workingDays, string expected)
    {
        Assert.Equal(Date(expected), China.AddWorkingDays(Date(from), workingDays));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void AddWorkingDays_needs_at_least_one_day(int workingDays)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => China.AddWorkingDays(Date("2026-11-27"), workingDays));
    }

    [Fact]
    public void The_embedded_mainland_China_2026_calendar_loads()
    {
        var calendar = WorkingDayCalendar.MainlandChina2026;

        Assert.Equal("mainland China, 2026", calendar.Name);
        Assert.Equal(33, calendar.Holidays.Count);
        Assert.Equal(6, calendar.MakeUpWorkingDays.Count);
        Assert.Equal(Date("2026-12-31"), calendar.CoveredUntil);
        Assert.Equal("Asia/Shanghai", calendar.TimeZone.Id);
        Assert.Equal(TimeSpan.FromHours(8), calendar.TimeZone.BaseUtcOffset);
        Assert.Same(calendar, WorkingDayCalendar.MainlandChina2026);
    }

    [Fact]
    public void Load_reads_a_calendar_file()
    {
        var path = Path.Combine(Path.GetTempPath(), $"calendar-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, EmbeddedJson());

            var calendar = WorkingDayCalendar.Load(path);

            Assert.Equal("mainland China, 2026", calendar.Name);
            Assert.Equal(China.Holidays.Order(), calendar.Holidays.Order());
            Assert.Equal(China.MakeUpWorkingDays.Order(), calendar.MakeUpWorkingDays.Order());
            Assert.Equal(Instant("2026-12-18T15:59:59Z"), calendar.DueAt(Instant("2026-11-27T09:00:00Z")));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_names_the_file_of_an_invalid_calendar()
    {
        var path = Path.Combine(Path.GetTempPath(), $"calendar-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, Calendar(weekend: """["Saturday", "Caturday"]"""));

            var error = Assert.Throws<FormatException>(() => WorkingDayCalendar.Load(path));

            Assert.Contains(path, error.Message);
            Assert.Contains("Caturday", error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void An_unknown_time_zone_falls_back_to_the_fixed_utc_offset()
    {
        var calendar = WorkingDayCalendar.Parse(Calendar(timeZone: "Nowhere/Atlantis", utcOffset: "\"+08:00\""));

        Assert.Equal("Nowhere/Atlantis", calendar.TimeZone.Id);
        Assert.Equal(TimeSpan.FromHours(8), calendar.TimeZone.BaseUtcOffset);
        Assert.False(calendar.TimeZone.SupportsDaylightSavingTime);
        Assert.Equal(Instant("2026-12-18T15:59:59Z"), calendar.DueAt(Instant("2026-11-27T09:00:00Z")));
    }

    [Fact]
    public void A_negative_fixed_offset_counts_days_west_of_UTC()
    {
        var calendar = WorkingDayCalendar.Parse(Calendar(timeZone: "Nowhere/West", utcOffset: "\"-05:00\""));

        // 04:00Z is Thursday 11-26 23:00 at -05:00: Fri 27 (1), Nov 30 .. Dec 4 (6), Dec 7 .. 11 (11), Dec 14 .. 17.
        var due = calendar.DueAt(Instant("2026-11-27T04:00:00Z"));

        Assert.Equal(Instant("2026-12-18T04:59:59Z"), due);
        Assert.Equal(TimeSpan.Zero, due.Offset);
    }

    [Fact]
    public void CoveredUntil_is_the_end_of_the_last_configured_year()
    {
        var twoYears = WorkingDayCalendar.Parse(Calendar(
            holidays: """[{"name": "New Year's Day", "dates": ["2026-01-01", "2027-01-01"]}]"""));
        var empty = WorkingDayCalendar.Parse(Calendar(holidays: "[]", makeUpWorkingDays: "[]"));

        Assert.Equal(Date("2027-12-31"), twoYears.CoveredUntil);
        Assert.Null(empty.CoveredUntil);
        Assert.False(twoYears.IsWorkingDay(Date("2027-01-01")));
        Assert.False(empty.Covers(Date("2026-10-01")));
    }

    public static TheoryData<string, string, string> InvalidCalendars => new()
    {
        { "not JSON", "{ \"calendar\": ", "not valid JSON" },
        { "not an object", "[]", "JSON object" },
        { "unknown weekday", Calendar(weekend: """["Saturday", "Caturday"]"""), "Caturday" },
        { "abbreviated weekday", Calendar(weekend: """["Sat", "Sunday"]"""), "\"Sat\"" },
        { "numeric weekday", Calendar(weekend: """["6", "Sunday"]"""), "\"6\"" },
        { "weekday not a string", Calendar(weekend: """[6, "Sunday"]"""), "weekend[0]" },
        { "every day a weekend day", Calendar(weekend: """["Monday","Tuesday","Wednesday","Thursday","Friday","Saturday","Sunday"]"""), "all seven days" },
        { "impossible holiday date", Calendar(holidays: """[{"name": "X", "dates": ["2026-02-30"]}]"""), "2026-02-30" },
        { "holiday date with slashes", Calendar(holidays: """[{"name": "X", "dates": ["2026/10/01"]}]"""), "2026/10/01" },
        { "holiday date without leading zero", Calendar(holidays: """[{"name": "X", "dates": ["2026-1-01"]}]"""), "2026-1-01" },
        { "holiday date with a time", Calendar(holidays: """[{"name": "X", "dates": ["2026-10-01T00:00:00"]}]"""), "2026-10-01T00:00:00" },
        { "holiday without a name", Calendar(holidays: """[{"dates": ["2026-10-01"]}]"""), "holidays[0].name" },
        { "malformed make-up day", Calendar(makeUpWorkingDays: """["10/10/2026"]"""), "10/10/2026" },
        { "make-up day that is also a holiday", Calendar(holidays: """[{"name": "National Day", "dates": ["2026-10-10"]}]""", makeUpWorkingDays: """["2026-10-10"]"""), "both a holiday (National Day) and a make-up working day" },
        { "make-up day on a weekday", Calendar(makeUpWorkingDays: """["2026-10-09"]"""), "not a weekend day" },
        { "missing time zone", Calendar(timeZone: null), "timeZone is missing" },
        { "unknown time zone without offset", Calendar(timeZone: "Nowhere/Atlantis"), "no \"utcOffset\"" },
        { "malformed utc offset", Calendar(utcOffset: "\"+8\""), "\"+8\"" },
        { "utc offset out of range", Calendar(utcOffset: "\"+15:00\""), "\"+15:00\"" },
        { "utc offset contradicting the zone", Calendar(utcOffset: "\"+09:00\""), "does not match" },
        { "missing make-up days", Calendar(makeUpWorkingDays: null), "makeUpWorkingDays is missing" },
    };

    [Theory]
    [MemberData(nameof(InvalidCalendars))]
    public void Parse_rejects_an_invalid_calendar_with_a_clear_message(string situation, string json, string expectedInMessage)
    {
        var error = Assert.Throws<FormatException>(() => WorkingDayCalendar.Parse(json));

        Assert.True(error.Message.Contains(expectedInMessage, StringComparison.Ordinal), $"{situation}: \"{error.Message}\" should mention {expectedInMessage}");
    }

    [Fact]
    public void Parse_accepts_the_minimal_calendar_used_by_the_error_cases()
    {
        var calendar = WorkingDayCalendar.Parse(Calendar());

        Assert.Equal("test calendar", calendar.Name);
        Assert.True(calendar.IsWorkingDay(Date("2026-10-10")));
        Assert.False(calendar.IsWorkingDay(Date("2026-10-01")));
    }

    /// <summary>A small valid calendar; each argument replaces one field's JSON (null leaves the field out).</summary>
    private static string Calendar(
        string? timeZone = "Asia/Shanghai",
        string? utcOffset = null,
        string? weekend = """["Saturday", "Sunday"]""",
        string? holidays = """[{"name": "National Day", "dates": ["2026-10-01", "2026-10-02"]}]""",
        string? makeUpWorkingDays = """["2026-10-10"]""")
    {
        var fields = new List<string> { "\"calendar\": \"test calendar\"" };
        if (timeZone is not null)
        {
            fields.Add($"\"timeZone\": \"{timeZone}\"");
        }

        if (utcOffset is not null)
        {
            fields.Add($"\"utcOffset\": {utcOffset}");
        }

        if (weekend is not null)
        {
            fields.Add($"\"weekend\": {weekend}");
        }

        if (holidays is not null)
        {
            fields.Add($"\"holidays\": {holidays}");
        }

        if (makeUpWorkingDays is not null)
        {
            fields.Add($"\"makeUpWorkingDays\": {makeUpWorkingDays}");
        }

        return "{" + string.Join(", ", fields) + "}";
    }

    private static string EmbeddedJson()
    {
        using var stream = typeof(WorkingDayCalendar).Assembly.GetManifestResourceStream(WorkingDayCalendar.MainlandChina2026ResourceName);
        Assert.NotNull(stream);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static DateTimeOffset Instant(string text) =>
        DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.None);

    private static DateOnly Date(string text) =>
        DateOnly.ParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture);
}
