package login

import "strings"

// deviceName turns a User-Agent into what a citizen recognises in the list
// of their sessions — "Chrome on Android", "Safari on iPhone" — or "" when
// neither the browser nor the system is known. The raw header is never
// shown: it is long, technical and partly made up by the browser.
func deviceName(lang, ua string) string {
	browser, system := uaBrowser(ua), uaSystem(ua)
	switch {
	case browser != "" && system != "":
		if lang == "th" {
			return browser + " บน " + system
		}
		return browser + " on " + system
	case browser != "":
		return browser
	default:
		return system
	}
}

// uaBrowser names the browser. Order matters: most browsers also claim to
// be Chrome or Safari.
func uaBrowser(ua string) string {
	has := func(s string) bool { return strings.Contains(ua, s) }
	switch {
	case has("Line/"):
		return "LINE"
	case has("FBAN") || has("FBAV"):
		return "Facebook"
	case has("SamsungBrowser/"):
		return "Samsung Internet"
	case has("Edg/") || has("EdgA/") || has("EdgiOS/"):
		return "Edge"
	case has("OPR/") || has("OPiOS/"):
		return "Opera"
	case has("Firefox/") || has("FxiOS/"):
		return "Firefox"
	case has("Chrome/") || has("CriOS/"):
		return "Chrome"
	case has("Safari/") && has("Version/"):
		return "Safari"
	}
	return ""
}

// uaSystem names the device or operating system.
func uaSystem(ua string) string {
	has := func(s string) bool { return strings.Contains(ua, s) }
	switch {
	case has("iPhone"):
		return "iPhone"
	case has("iPad"):
		return "iPad"
	case has("Android"):
		return "Android"
	case has("CrOS"):
		return "ChromeOS"
	case has("Windows"):
		return "Windows"
	case has("Macintosh") || has("Mac OS X"):
		return "Mac"
	case has("Linux"):
		return "Linux"
	}
	return ""
}
